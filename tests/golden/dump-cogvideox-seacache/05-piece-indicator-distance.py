# piece indicator+distance



def forward(self, L_kwargs_hidden_states_ : torch.Tensor, L_kwargs_timestep_ : torch.Tensor, L_self_dict_modules_time_embedding_modules_linear_1_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_time_embedding_modules_linear_1_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_time_embedding_modules_linear_2_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_time_embedding_modules_linear_2_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_patch_embed_modules_text_proj_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_patch_embed_modules_text_proj_parameters_bias_ : torch.nn.parameter.Parameter, L_kwargs_encoder_hidden_states_ : torch.Tensor, L_self_dict_modules_patch_embed_modules_proj_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_patch_embed_modules_proj_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_patch_embed_buffers_pos_embedding_ : torch.Tensor, L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_final_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_final_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_out_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_out_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_out_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_out_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_proj_out_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_proj_out_parameters_bias_ : torch.nn.parameter.Parameter, sea_coef, cache_read__sea_indicator__0):
    l_kwargs_hidden_states_ = L_kwargs_hidden_states_
    l_kwargs_timestep_ = L_kwargs_timestep_
    l_self_dict_modules_time_embedding_modules_linear_1_parameters_weight_ = L_self_dict_modules_time_embedding_modules_linear_1_parameters_weight_
    l_self_dict_modules_time_embedding_modules_linear_1_parameters_bias_ = L_self_dict_modules_time_embedding_modules_linear_1_parameters_bias_
    l_self_dict_modules_time_embedding_modules_linear_2_parameters_weight_ = L_self_dict_modules_time_embedding_modules_linear_2_parameters_weight_
    l_self_dict_modules_time_embedding_modules_linear_2_parameters_bias_ = L_self_dict_modules_time_embedding_modules_linear_2_parameters_bias_
    l_self_dict_modules_patch_embed_modules_text_proj_parameters_weight_ = L_self_dict_modules_patch_embed_modules_text_proj_parameters_weight_
    l_self_dict_modules_patch_embed_modules_text_proj_parameters_bias_ = L_self_dict_modules_patch_embed_modules_text_proj_parameters_bias_
    l_kwargs_encoder_hidden_states_ = L_kwargs_encoder_hidden_states_
    l_self_dict_modules_patch_embed_modules_proj_parameters_weight_ = L_self_dict_modules_patch_embed_modules_proj_parameters_weight_
    l_self_dict_modules_patch_embed_modules_proj_parameters_bias_ = L_self_dict_modules_patch_embed_modules_proj_parameters_bias_
    l_self_dict_modules_patch_embed_buffers_pos_embedding_ = L_self_dict_modules_patch_embed_buffers_pos_embedding_
    l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_
    l_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_weight_ = L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_weight_
    l_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_bias_ = L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_bias_
    l_self_dict_modules_norm_final_parameters_weight_ = L_self_dict_modules_norm_final_parameters_weight_
    l_self_dict_modules_norm_final_parameters_bias_ = L_self_dict_modules_norm_final_parameters_bias_
    l_self_dict_modules_norm_out_modules_linear_parameters_weight_ = L_self_dict_modules_norm_out_modules_linear_parameters_weight_
    l_self_dict_modules_norm_out_modules_linear_parameters_bias_ = L_self_dict_modules_norm_out_modules_linear_parameters_bias_
    l_self_dict_modules_norm_out_modules_norm_parameters_weight_ = L_self_dict_modules_norm_out_modules_norm_parameters_weight_
    l_self_dict_modules_norm_out_modules_norm_parameters_bias_ = L_self_dict_modules_norm_out_modules_norm_parameters_bias_
    l_self_dict_modules_proj_out_parameters_weight_ = L_self_dict_modules_proj_out_parameters_weight_
    l_self_dict_modules_proj_out_parameters_bias_ = L_self_dict_modules_proj_out_parameters_bias_
    getitem = l_kwargs_hidden_states_[0];  l_kwargs_hidden_states_ = None
    movedim = getitem.movedim(0, -1);  getitem = None
    contiguous = movedim.contiguous();  movedim = None
    float_1 = contiguous.float();  contiguous = None
    fft_fftn = torch._C._fft.fft_fftn(float_1, dim = (0, 1, 2));  float_1 = None
    fft_fftfreq = torch._C._fft.fft_fftfreq(4, device = device(type='cpu'), dtype = torch.float32)
    abs_1 = fft_fftfreq.abs();  fft_fftfreq = None
    pow_1 = abs_1.pow(3.0);  abs_1 = None
    add = pow_1 + 1e-16;  pow_1 = None
    truediv = 1.0 / add;  add = None
    getitem_1 = sea_coef[0]
    mul = getitem_1 * truediv;  getitem_1 = None
    getitem_2 = sea_coef[1]
    mul_1 = getitem_2 * truediv;  getitem_2 = truediv = None
    getitem_3 = sea_coef[2]
    add_1 = mul_1 + getitem_3;  mul_1 = getitem_3 = None
    add_2 = add_1 + 1e-16;  add_1 = None
    truediv_1 = mul / add_2;  mul = add_2 = None
    reshape = truediv_1.reshape([4, 1, 1, 1]);  truediv_1 = None
    fft_fftfreq_1 = torch._C._fft.fft_fftfreq(8, device = device(type='cpu'), dtype = torch.float32)
    abs_2 = fft_fftfreq_1.abs();  fft_fftfreq_1 = None
    pow_2 = abs_2.pow(3.0);  abs_2 = None
    add_3 = pow_2 + 1e-16;  pow_2 = None
    truediv_2 = 1.0 / add_3;  add_3 = None
    getitem_4 = sea_coef[0]
    mul_2 = getitem_4 * truediv_2;  getitem_4 = None
    getitem_5 = sea_coef[1]
    mul_3 = getitem_5 * truediv_2;  getitem_5 = truediv_2 = None
    getitem_6 = sea_coef[2]
    add_4 = mul_3 + getitem_6;  mul_3 = getitem_6 = None
    add_5 = add_4 + 1e-16;  add_4 = None
    truediv_3 = mul_2 / add_5;  mul_2 = add_5 = None
    reshape_1 = truediv_3.reshape([1, 8, 1, 1]);  truediv_3 = None
    mul_4 = reshape * reshape_1;  reshape = reshape_1 = None
    fft_fftfreq_2 = torch._C._fft.fft_fftfreq(8, device = device(type='cpu'), dtype = torch.float32)
    abs_3 = fft_fftfreq_2.abs();  fft_fftfreq_2 = None
    pow_3 = abs_3.pow(3.0);  abs_3 = None
    add_6 = pow_3 + 1e-16;  pow_3 = None
    truediv_4 = 1.0 / add_6;  add_6 = None
    getitem_7 = sea_coef[0]
    mul_5 = getitem_7 * truediv_4;  getitem_7 = None
    getitem_8 = sea_coef[1]
    mul_6 = getitem_8 * truediv_4;  getitem_8 = truediv_4 = None
    getitem_9 = sea_coef[2];  sea_coef = None
    add_7 = mul_6 + getitem_9;  mul_6 = getitem_9 = None
    add_8 = add_7 + 1e-16;  add_7 = None
    truediv_5 = mul_5 / add_8;  mul_5 = add_8 = None
    reshape_2 = truediv_5.reshape([1, 1, 8, 1]);  truediv_5 = None
    mul_7 = mul_4 * reshape_2;  mul_4 = reshape_2 = None
    mean = mul_7.mean()
    isfinite = torch.isfinite(mean)
    gt = mean > 0
    and_ = isfinite & gt;  isfinite = gt = None
    truediv_6 = mul_7 / mean;  mean = None
    where = torch.where(and_, truediv_6, mul_7);  and_ = truediv_6 = mul_7 = None
    mul_8 = fft_fftn * where;  fft_fftn = where = None
    fft_ifftn = torch._C._fft.fft_ifftn(mul_8, dim = (0, 1, 2));  mul_8 = None
    getattr_1 = fft_ifftn.real;  fft_ifftn = None
    to = getattr_1.to(torch.float32);  getattr_1 = None
    contiguous_1 = to.contiguous()
    float_2 = to.float();  to = None
    float_3 = cache_read__sea_indicator__0.float()
    sub = float_2 - float_3;  float_2 = float_3 = None
    abs_4 = sub.abs();  sub = None
    mean_1 = abs_4.mean();  abs_4 = None
    float_4 = cache_read__sea_indicator__0.float();  cache_read__sea_indicator__0 = None
    abs_5 = float_4.abs();  float_4 = None
    mean_2 = abs_5.mean();  abs_5 = None
    add_9 = mean_2 + 1e-16;  mean_2 = None
    truediv_7 = mean_1 / add_9;  mean_1 = add_9 = None
    stack = torch.stack([truediv_7]);  truediv_7 = None
    return (contiguous_1, stack)
    