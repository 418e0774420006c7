


def forward(self, L_kwargs_hidden_states_ : torch.Tensor, L_kwargs_timestep_ : torch.Tensor, L_self_dict_modules_time_embedding_modules_linear_1_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_time_embedding_modules_linear_1_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_time_embedding_modules_linear_2_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_time_embedding_modules_linear_2_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_patch_embed_modules_text_proj_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_patch_embed_modules_text_proj_parameters_bias_ : torch.nn.parameter.Parameter, L_kwargs_encoder_hidden_states_ : torch.Tensor, L_self_dict_modules_patch_embed_modules_proj_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_patch_embed_modules_proj_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_patch_embed_buffers_pos_embedding_ : torch.Tensor, L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_final_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_final_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_out_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_out_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_out_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_out_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_proj_out_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_proj_out_parameters_bias_ : torch.nn.parameter.Parameter):
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
    arange = torch.arange(start = 0, end = 8, dtype = torch.float32, device = device(type='cpu'))
    exponent = -9.210340371976184 * arange;  arange = None
    exponent_1 = exponent / 8;  exponent = None
    emb = torch.exp(exponent_1);  exponent_1 = None
    getitem = l_kwargs_timestep_[(slice(None, None, None), None)];  l_kwargs_timestep_ = None
    float_1 = getitem.float();  getitem = None
    getitem_1 = emb[(None, slice(None, None, None))];  emb = None
    emb_1 = float_1 * getitem_1;  float_1 = getitem_1 = None
    emb_2 = 1 * emb_1;  emb_1 = None
    sin = torch.sin(emb_2)
    cos = torch.cos(emb_2);  emb_2 = None
    emb_3 = torch.cat([sin, cos], dim = -1);  sin = cos = None
    getitem_2 = emb_3[(slice(None, None, None), slice(8, None, None))]
    getitem_3 = emb_3[(slice(None, None, None), slice(None, 8, None))];  emb_3 = None
    emb_4 = torch.cat([getitem_2, getitem_3], dim = -1);  getitem_2 = getitem_3 = None
    t_emb = emb_4.to(dtype = torch.float32);  emb_4 = None
    sample = torch._C._nn.linear(t_emb, l_self_dict_modules_time_embedding_modules_linear_1_parameters_weight_, l_self_dict_modules_time_embedding_modules_linear_1_parameters_bias_);  t_emb = l_self_dict_modules_time_embedding_modules_linear_1_parameters_weight_ = l_self_dict_modules_time_embedding_modules_linear_1_parameters_bias_ = None
    sample_1 = torch.nn.functional.silu(sample, inplace = False);  sample = None
    sample_2 = torch._C._nn.linear(sample_1, l_self_dict_modules_time_embedding_modules_linear_2_parameters_weight_, l_self_dict_modules_time_embedding_modules_linear_2_parameters_bias_);  sample_1 = l_self_dict_modules_time_embedding_modules_linear_2_parameters_weight_ = l_self_dict_modules_time_embedding_modules_linear_2_parameters_bias_ = None
    text_embeds = torch._C._nn.linear(l_kwargs_encoder_hidden_states_, l_self_dict_modules_patch_embed_modules_text_proj_parameters_weight_, l_self_dict_modules_patch_embed_modules_text_proj_parameters_bias_);  l_kwargs_encoder_hidden_states_ = l_self_dict_modules_patch_embed_modules_text_proj_parameters_weight_ = l_self_dict_modules_patch_embed_modules_text_proj_parameters_bias_ = None
    image_embeds = l_kwargs_hidden_states_.reshape(-1, 4, 8, 8);  l_kwargs_hidden_states_ = None
    image_embeds_1 = torch.conv2d(image_embeds, l_self_dict_modules_patch_embed_modules_proj_parameters_weight_, l_self_dict_modules_patch_embed_modules_proj_parameters_bias_, (2, 2), (0, 0), (1, 1), 1);  image_embeds = l_self_dict_modules_patch_embed_modules_proj_parameters_weight_ = l_self_dict_modules_patch_embed_modules_proj_parameters_bias_ = None
    image_embeds_2 = image_embeds_1.view(1, 2, 16, 4, 4);  image_embeds_1 = None
    flatten = image_embeds_2.flatten(3);  image_embeds_2 = None
    image_embeds_3 = flatten.transpose(2, 3);  flatten = None
    image_embeds_4 = image_embeds_3.flatten(1, 2);  image_embeds_3 = None
    cat_2 = torch.cat([text_embeds, image_embeds_4], dim = 1);  text_embeds = image_embeds_4 = None
    embeds = cat_2.contiguous();  cat_2 = None
    pos_embedding = l_self_dict_modules_patch_embed_buffers_pos_embedding_.to(dtype = torch.float32);  l_self_dict_modules_patch_embed_buffers_pos_embedding_ = None
    embeds_1 = embeds + pos_embedding;  embeds = pos_embedding = None
    hidden_states = torch.nn.functional.dropout(embeds_1, 0.0, False, False);  embeds_1 = None
    encoder_hidden_states = hidden_states[(slice(None, None, None), slice(None, 8, None))]
    hidden_states_1 = hidden_states[(slice(None, None, None), slice(8, None, None))];  hidden_states = None
    silu_1 = torch.nn.functional.silu(sample_2, inplace = False)
    linear_3 = torch._C._nn.linear(silu_1, l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_bias_);  silu_1 = l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_bias_ = None
    chunk = linear_3.chunk(6, dim = 1);  linear_3 = None
    shift = chunk[0]
    scale = chunk[1]
    gate = chunk[2]
    enc_shift = chunk[3]
    enc_scale = chunk[4]
    enc_gate = chunk[5];  chunk = None
    layer_norm = torch.nn.functional.layer_norm(hidden_states_1, (16,), l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_bias_, 1e-05)
    add_1 = 1 + scale;  scale = None
    getitem_12 = add_1[(slice(None, None, None), None, slice(None, None, None))];  add_1 = None
    mul_3 = layer_norm * getitem_12;  layer_norm = getitem_12 = None
    getitem_13 = shift[(slice(None, None, None), None, slice(None, None, None))];  shift = None
    hidden_states_2 = mul_3 + getitem_13;  mul_3 = getitem_13 = None
    layer_norm_1 = torch.nn.functional.layer_norm(encoder_hidden_states, (16,), l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_bias_, 1e-05);  l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_bias_ = None
    add_3 = 1 + enc_scale;  enc_scale = None
    getitem_14 = add_3[(slice(None, None, None), None, slice(None, None, None))];  add_3 = None
    mul_4 = layer_norm_1 * getitem_14;  layer_norm_1 = getitem_14 = None
    getitem_15 = enc_shift[(slice(None, None, None), None, slice(None, None, None))];  enc_shift = None
    encoder_hidden_states_1 = mul_4 + getitem_15;  mul_4 = getitem_15 = None
    gate_msa = gate[(slice(None, None, None), None, slice(None, None, None))];  gate = None
    enc_gate_msa = enc_gate[(slice(None, None, None), None, slice(None, None, None))];  enc_gate = None
    hidden_states_3 = torch.cat([encoder_hidden_states_1, hidden_states_2], dim = 1);  encoder_hidden_states_1 = hidden_states_2 = None
    query = torch._C._nn.linear(hidden_states_3, l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_bias_);  l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_bias_ = None
    key = torch._C._nn.linear(hidden_states_3, l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_bias_);  l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_bias_ = None
    value = torch._C._nn.linear(hidden_states_3, l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_bias_);  hidden_states_3 = l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_bias_ = None
    view_1 = query.view(1, -1, 2, 8);  query = None
    query_1 = view_1.transpose(1, 2);  view_1 = None
    view_2 = key.view(1, -1, 2, 8);  key = None
    key_1 = view_2.transpose(1, 2);  view_2 = None
    view_3 = value.view(1, -1, 2, 8);  value = None
    value_1 = view_3.transpose(1, 2);  view_3 = None
    query_2 = torch.nn.functional.layer_norm(query_1, (8,), l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_bias_, 1e-06);  query_1 = l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_bias_ = None
    key_2 = torch.nn.functional.layer_norm(key_1, (8,), l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_bias_, 1e-06);  key_1 = l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_bias_ = None
    hidden_states_4 = torch._C._nn.scaled_dot_product_attention(query_2, key_2, value_1, attn_mask = None, dropout_p = 0.0, is_causal = False);  query_2 = key_2 = value_1 = None
    transpose_4 = hidden_states_4.transpose(1, 2);  hidden_states_4 = None
    hidden_states_5 = transpose_4.reshape(1, -1, 16);  transpose_4 = None
    hidden_states_6 = torch._C._nn.linear(hidden_states_5, l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_bias_);  hidden_states_5 = l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_bias_ = None
    hidden_states_7 = torch.nn.functional.dropout(hidden_states_6, 0.0, False, False);  hidden_states_6 = None
    split = hidden_states_7.split([8, 32], dim = 1);  hidden_states_7 = None
    encoder_hidden_states_2 = split[0]
    hidden_states_8 = split[1];  split = None
    mul_5 = gate_msa * hidden_states_8;  gate_msa = hidden_states_8 = None
    hidden_states_9 = hidden_states_1 + mul_5;  hidden_states_1 = mul_5 = None
    mul_6 = enc_gate_msa * encoder_hidden_states_2;  enc_gate_msa = encoder_hidden_states_2 = None
    encoder_hidden_states_3 = encoder_hidden_states + mul_6;  encoder_hidden_states = mul_6 = None
    silu_2 = torch.nn.functional.silu(sample_2, inplace = False)
    linear_8 = torch._C._nn.linear(silu_2, l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_bias_);  silu_2 = l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_bias_ = None
    chunk_1 = linear_8.chunk(6, dim = 1);  linear_8 = None
    shift_1 = chunk_1[0]
    scale_1 = chunk_1[1]
    gate_1 = chunk_1[2]
    enc_shift_1 = chunk_1[3]
    enc_scale_1 = chunk_1[4]
    enc_gate_1 = chunk_1[5];  chunk_1 = None
    layer_norm_4 = torch.nn.functional.layer_norm(hidden_states_9, (16,), l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_bias_, 1e-05)
    add_7 = 1 + scale_1;  scale_1 = None
    getitem_26 = add_7[(slice(None, None, None), None, slice(None, None, None))];  add_7 = None
    mul_7 = layer_norm_4 * getitem_26;  layer_norm_4 = getitem_26 = None
    getitem_27 = shift_1[(slice(None, None, None), None, slice(None, None, None))];  shift_1 = None
    hidden_states_10 = mul_7 + getitem_27;  mul_7 = getitem_27 = None
    layer_norm_5 = torch.nn.functional.layer_norm(encoder_hidden_states_3, (16,), l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_bias_, 1e-05);  l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_bias_ = None
    add_9 = 1 + enc_scale_1;  enc_scale_1 = None
    getitem_28 = add_9[(slice(None, None, None), None, slice(None, None, None))];  add_9 = None
    mul_8 = layer_norm_5 * getitem_28;  layer_norm_5 = getitem_28 = None
    getitem_29 = enc_shift_1[(slice(None, None, None), None, slice(None, None, None))];  enc_shift_1 = None
    encoder_hidden_states_4 = mul_8 + getitem_29;  mul_8 = getitem_29 = None
    gate_ff = gate_1[(slice(None, None, None), None, slice(None, None, None))];  gate_1 = None
    enc_gate_ff = enc_gate_1[(slice(None, None, None), None, slice(None, None, None))];  enc_gate_1 = None
    norm_hidden_states = torch.cat([encoder_hidden_states_4, hidden_states_10], dim = 1);  encoder_hidden_states_4 = hidden_states_10 = None
    hidden_states_11 = torch._C._nn.linear(norm_hidden_states, l_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_);  norm_hidden_states = l_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_ = None
    hidden_states_12 = torch._C._nn.gelu(hidden_states_11, approximate = 'tanh');  hidden_states_11 = None
    hidden_states_13 = torch.nn.functional.dropout(hidden_states_12, 0.0, False, False);  hidden_states_12 = None
    hidden_states_14 = torch._C._nn.linear(hidden_states_13, l_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_bias_);  hidden_states_13 = l_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_bias_ = None
    hidden_states_15 = torch.nn.functional.dropout(hidden_states_14, 0.0, False, False);  hidden_states_14 = None
    getitem_32 = hidden_states_15[(slice(None, None, None), slice(8, None, None))]
    mul_9 = gate_ff * getitem_32;  gate_ff = getitem_32 = None
    hidden_states_16 = hidden_states_9 + mul_9;  hidden_states_9 = mul_9 = None
    getitem_33 = hidden_states_15[(slice(None, None, None), slice(None, 8, None))];  hidden_states_15 = None
    mul_10 = enc_gate_ff * getitem_33;  enc_gate_ff = getitem_33 = None
    encoder_hidden_states_5 = encoder_hidden_states_3 + mul_10;  encoder_hidden_states_3 = mul_10 = None
    silu_3 = torch.nn.functional.silu(sample_2, inplace = False)
    linear_11 = torch._C._nn.linear(silu_3, l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_bias_);  silu_3 = l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_bias_ = None
    chunk_2 = linear_11.chunk(6, dim = 1);  linear_11 = None
    shift_2 = chunk_2[0]
    scale_2 = chunk_2[1]
    gate_2 = chunk_2[2]
    enc_shift_2 = chunk_2[3]
    enc_scale_2 = chunk_2[4]
    enc_gate_2 = chunk_2[5];  chunk_2 = None
    layer_norm_6 = torch.nn.functional.layer_norm(hidden_states_16, (16,), l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_bias_, 1e-05)
    add_13 = 1 + scale_2;  scale_2 = None
    getitem_40 = add_13[(slice(None, None, None), None, slice(None, None, None))];  add_13 = None
    mul_11 = layer_norm_6 * getitem_40;  layer_norm_6 = getitem_40 = None
    getitem_41 = shift_2[(slice(None, None, None), None, slice(None, None, None))];  shift_2 = None
    hidden_states_17 = mul_11 + getitem_41;  mul_11 = getitem_41 = None
    layer_norm_7 = torch.nn.functional.layer_norm(encoder_hidden_states_5, (16,), l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_bias_, 1e-05);  l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_bias_ = None
    add_15 = 1 + enc_scale_2;  enc_scale_2 = None
    getitem_42 = add_15[(slice(None, None, None), None, slice(None, None, None))];  add_15 = None
    mul_12 = layer_norm_7 * getitem_42;  layer_norm_7 = getitem_42 = None
    getitem_43 = enc_shift_2[(slice(None, None, None), None, slice(None, None, None))];  enc_shift_2 = None
    encoder_hidden_states_6 = mul_12 + getitem_43;  mul_12 = getitem_43 = None
    gate_msa_1 = gate_2[(slice(None, None, None), None, slice(None, None, None))];  gate_2 = None
    enc_gate_msa_1 = enc_gate_2[(slice(None, None, None), None, slice(None, None, None))];  enc_gate_2 = None
    hidden_states_18 = torch.cat([encoder_hidden_states_6, hidden_states_17], dim = 1);  encoder_hidden_states_6 = hidden_states_17 = None
    query_3 = torch._C._nn.linear(hidden_states_18, l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_bias_);  l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_bias_ = None
    key_3 = torch._C._nn.linear(hidden_states_18, l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_bias_);  l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_bias_ = None
    value_2 = torch._C._nn.linear(hidden_states_18, l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_bias_);  hidden_states_18 = l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_bias_ = None
    view_4 = query_3.view(1, -1, 2, 8);  query_3 = None
    query_4 = view_4.transpose(1, 2);  view_4 = None
    view_5 = key_3.view(1, -1, 2, 8);  key_3 = None
    key_4 = view_5.transpose(1, 2);  view_5 = None
    view_6 = value_2.view(1, -1, 2, 8);  value_2 = None
    value_3 = view_6.transpose(1, 2);  view_6 = None
    query_5 = torch.nn.functional.layer_norm(query_4, (8,), l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_bias_, 1e-06);  query_4 = l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_bias_ = None
    key_5 = torch.nn.functional.layer_norm(key_4, (8,), l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_bias_, 1e-06);  key_4 = l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_bias_ = None
    hidden_states_19 = torch._C._nn.scaled_dot_product_attention(query_5, key_5, value_3, attn_mask = None, dropout_p = 0.0, is_causal = False);  query_5 = key_5 = value_3 = None
    transpose_8 = hidden_states_19.transpose(1, 2);  hidden_states_19 = None
    hidden_states_20 = transpose_8.reshape(1, -1, 16);  transpose_8 = None
    hidden_states_21 = torch._C._nn.linear(hidden_states_20, l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_bias_);  hidden_states_20 = l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_bias_ = None
    hidden_states_22 = torch.nn.functional.dropout(hidden_states_21, 0.0, False, False);  hidden_states_21 = None
    split_1 = hidden_states_22.split([8, 32], dim = 1);  hidden_states_22 = None
    encoder_hidden_states_7 = split_1[0]
    hidden_states_23 = split_1[1];  split_1 = None
    mul_13 = gate_msa_1 * hidden_states_23;  gate_msa_1 = hidden_states_23 = None
    hidden_states_24 = hidden_states_16 + mul_13;  hidden_states_16 = mul_13 = None
    mul_14 = enc_gate_msa_1 * encoder_hidden_states_7;  enc_gate_msa_1 = encoder_hidden_states_7 = None
    encoder_hidden_states_8 = encoder_hidden_states_5 + mul_14;  encoder_hidden_states_5 = mul_14 = None
    silu_4 = torch.nn.functional.silu(sample_2, inplace = False)
    linear_16 = torch._C._nn.linear(silu_4, l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_bias_);  silu_4 = l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_bias_ = None
    chunk_3 = linear_16.chunk(6, dim = 1);  linear_16 = None
    shift_3 = chunk_3[0]
    scale_3 = chunk_3[1]
    gate_3 = chunk_3[2]
    enc_shift_3 = chunk_3[3]
    enc_scale_3 = chunk_3[4]
    enc_gate_3 = chunk_3[5];  chunk_3 = None
    layer_norm_10 = torch.nn.functional.layer_norm(hidden_states_24, (16,), l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_bias_, 1e-05)
    add_19 = 1 + scale_3;  scale_3 = None
    getitem_54 = add_19[(slice(None, None, None), None, slice(None, None, None))];  add_19 = None
    mul_15 = layer_norm_10 * getitem_54;  layer_norm_10 = getitem_54 = None
    getitem_55 = shift_3[(slice(None, None, None), None, slice(None, None, None))];  shift_3 = None
    hidden_states_25 = mul_15 + getitem_55;  mul_15 = getitem_55 = None
    layer_norm_11 = torch.nn.functional.layer_norm(encoder_hidden_states_8, (16,), l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_bias_, 1e-05);  l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_bias_ = None
    add_21 = 1 + enc_scale_3;  enc_scale_3 = None
    getitem_56 = add_21[(slice(None, None, None), None, slice(None, None, None))];  add_21 = None
    mul_16 = layer_norm_11 * getitem_56;  layer_norm_11 = getitem_56 = None
    getitem_57 = enc_shift_3[(slice(None, None, None), None, slice(None, None, None))];  enc_shift_3 = None
    encoder_hidden_states_9 = mul_16 + getitem_57;  mul_16 = getitem_57 = None
    gate_ff_1 = gate_3[(slice(None, None, None), None, slice(None, None, None))];  gate_3 = None
    enc_gate_ff_1 = enc_gate_3[(slice(None, None, None), None, slice(None, None, None))];  enc_gate_3 = None
    norm_hidden_states_1 = torch.cat([encoder_hidden_states_9, hidden_states_25], dim = 1);  encoder_hidden_states_9 = hidden_states_25 = None
    hidden_states_26 = torch._C._nn.linear(norm_hidden_states_1, l_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_);  norm_hidden_states_1 = l_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_ = None
    hidden_states_27 = torch._C._nn.gelu(hidden_states_26, approximate = 'tanh');  hidden_states_26 = None
    hidden_states_28 = torch.nn.functional.dropout(hidden_states_27, 0.0, False, False);  hidden_states_27 = None
    hidden_states_29 = torch._C._nn.linear(hidden_states_28, l_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_bias_);  hidden_states_28 = l_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_bias_ = None
    hidden_states_30 = torch.nn.functional.dropout(hidden_states_29, 0.0, False, False);  hidden_states_29 = None
    getitem_60 = hidden_states_30[(slice(None, None, None), slice(8, None, None))]
    mul_17 = gate_ff_1 * getitem_60;  gate_ff_1 = getitem_60 = None
    hidden_states_31 = hidden_states_24 + mul_17;  hidden_states_24 = mul_17 = None
    getitem_61 = hidden_states_30[(slice(None, None, None), slice(None, 8, None))];  hidden_states_30 = None
    mul_18 = enc_gate_ff_1 * getitem_61;  enc_gate_ff_1 = getitem_61 = None
    encoder_hidden_states_10 = encoder_hidden_states_8 + mul_18;  encoder_hidden_states_8 = mul_18 = encoder_hidden_states_10 = None
    hidden_states_32 = torch.nn.functional.layer_norm(hidden_states_31, (16,), l_self_dict_modules_norm_final_parameters_weight_, l_self_dict_modules_norm_final_parameters_bias_, 1e-05);  hidden_states_31 = l_self_dict_modules_norm_final_parameters_weight_ = l_self_dict_modules_norm_final_parameters_bias_ = None
    silu_5 = torch.nn.functional.silu(sample_2, inplace = False);  sample_2 = None
    temb = torch._C._nn.linear(silu_5, l_self_dict_modules_norm_out_modules_linear_parameters_weight_, l_self_dict_modules_norm_out_modules_linear_parameters_bias_);  silu_5 = l_self_dict_modules_norm_out_modules_linear_parameters_weight_ = l_self_dict_modules_norm_out_modules_linear_parameters_bias_ = None
    chunk_4 = temb.chunk(2, dim = 1);  temb = None
    shift_4 = chunk_4[0]
    scale_4 = chunk_4[1];  chunk_4 = None
    shift_5 = shift_4[(slice(None, None, None), None, slice(None, None, None))];  shift_4 = None
    scale_5 = scale_4[(slice(None, None, None), None, slice(None, None, None))];  scale_4 = None
    layer_norm_13 = torch.nn.functional.layer_norm(hidden_states_32, (16,), l_self_dict_modules_norm_out_modules_norm_parameters_weight_, l_self_dict_modules_norm_out_modules_norm_parameters_bias_, 1e-05);  hidden_states_32 = l_self_dict_modules_norm_out_modules_norm_parameters_weight_ = l_self_dict_modules_norm_out_modules_norm_parameters_bias_ = None
    add_25 = 1 + scale_5;  scale_5 = None
    mul_19 = layer_norm_13 * add_25;  layer_norm_13 = add_25 = None
    x = mul_19 + shift_5;  mul_19 = shift_5 = None
    hidden_states_33 = torch._C._nn.linear(x, l_self_dict_modules_proj_out_parameters_weight_, l_self_dict_modules_proj_out_parameters_bias_);  x = l_self_dict_modules_proj_out_parameters_weight_ = l_self_dict_modules_proj_out_parameters_bias_ = None
    output = hidden_states_33.reshape(1, 2, 4, 4, -1, 2, 2);  hidden_states_33 = None
    permute = output.permute(0, 1, 4, 2, 5, 3, 6);  output = None
    flatten_2 = permute.flatten(5, 6);  permute = None
    output_1 = flatten_2.flatten(3, 4);  flatten_2 = None
    return (output_1,)
    