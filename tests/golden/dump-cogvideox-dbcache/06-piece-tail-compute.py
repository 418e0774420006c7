# piece tail-compute



def forward(self, L_kwargs_hidden_states_ : torch.Tensor, L_kwargs_timestep_ : torch.Tensor, L_self_dict_modules_time_embedding_modules_linear_1_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_time_embedding_modules_linear_1_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_time_embedding_modules_linear_2_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_time_embedding_modules_linear_2_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_patch_embed_modules_text_proj_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_patch_embed_modules_text_proj_parameters_bias_ : torch.nn.parameter.Parameter, L_kwargs_encoder_hidden_states_ : torch.Tensor, L_self_dict_modules_patch_embed_modules_proj_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_patch_embed_modules_proj_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_patch_embed_buffers_pos_embedding_ : torch.Tensor, L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm1_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_q_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_k_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_v_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_q_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_norm_k_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_attn1_modules_to_out_modules_0_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_norm2_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_0_modules_ff_modules_net_modules_2_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_q_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_k_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_v_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_q_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_norm_k_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_attn1_modules_to_out_modules_0_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_norm2_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_0_modules_proj_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_transformer_blocks_modules_1_modules_ff_modules_net_modules_2_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_final_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_final_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_out_modules_linear_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_out_modules_linear_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_out_modules_norm_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_norm_out_modules_norm_parameters_bias_ : torch.nn.parameter.Parameter, L_self_dict_modules_proj_out_parameters_weight_ : torch.nn.parameter.Parameter, L_self_dict_modules_proj_out_parameters_bias_ : torch.nn.parameter.Parameter, from_head__sample_2, from_head__hidden_states_16, from_head__encoder_hidden_states_5):
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
    silu_3 = torch.nn.functional.silu(from_head__sample_2, inplace = False)
    linear_11 = torch._C._nn.linear(silu_3, l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_bias_);  silu_3 = l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_linear_parameters_bias_ = None
    chunk_2 = linear_11.chunk(6, dim = 1);  linear_11 = None
    shift_2 = chunk_2[0]
    scale_2 = chunk_2[1]
    gate_2 = chunk_2[2]
    enc_shift_2 = chunk_2[3]
    enc_scale_2 = chunk_2[4]
    enc_gate_2 = chunk_2[5];  chunk_2 = None
    layer_norm_6 = torch.nn.functional.layer_norm(from_head__hidden_states_16, (16,), l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_bias_, 1e-05)
    add_13 = 1 + scale_2;  scale_2 = None
    getitem_40 = add_13[(slice(None, None, None), None, slice(None, None, None))];  add_13 = None
    mul_11 = layer_norm_6 * getitem_40;  layer_norm_6 = getitem_40 = None
    getitem_41 = shift_2[(slice(None, None, None), None, slice(None, None, None))];  shift_2 = None
    hidden_states_17 = mul_11 + getitem_41;  mul_11 = getitem_41 = None
    layer_norm_7 = torch.nn.functional.layer_norm(from_head__encoder_hidden_states_5, (16,), l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_weight_, l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_bias_, 1e-05);  l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_weight_ = l_self_dict_modules_transformer_blocks_modules_1_modules_norm1_modules_norm_parameters_bias_ = None
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
    hidden_states_24 = from_head__hidden_states_16 + mul_13;  mul_13 = None
    mul_14 = enc_gate_msa_1 * encoder_hidden_states_7;  enc_gate_msa_1 = encoder_hidden_states_7 = None
    encoder_hidden_states_8 = from_head__encoder_hidden_states_5 + mul_14;  from_head__encoder_hidden_states_5 = mul_14 = None
    silu_4 = torch.nn.functional.silu(from_head__sample_2, inplace = False)
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
    hidden_states_32 = torch.nn.functional.layer_norm(hidden_states_31, (16,), l_self_dict_modules_norm_final_parameters_weight_, l_self_dict_modules_norm_final_parameters_bias_, 1e-05);  l_self_dict_modules_norm_final_parameters_weight_ = l_self_dict_modules_norm_final_parameters_bias_ = None
    silu_5 = torch.nn.functional.silu(from_head__sample_2, inplace = False);  from_head__sample_2 = None
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
    cache_write__db_middle_residual__0 = hidden_states_31 - from_head__hidden_states_16;  hidden_states_31 = from_head__hidden_states_16 = None
    return (output_1, cache_write__db_middle_residual__0)
    