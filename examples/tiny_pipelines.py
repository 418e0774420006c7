"""Real diffusers pipelines assembled from tiny random-weight components: no downloads, CPU-fast.

    pipe = cogvideox_pipeline(seed=0)          # diffusers.CogVideoXPipeline
    video = pipe("a panda playing guitar", **COGVIDEOX_CALL, output_type="pt").frames

Every component is built from a config with weights drawn from `torch.manual_seed(seed)`, so two
calls with the same seed give identical pipelines (the tests build one for cachepass and one for
diffusers' own hooks). The tokenizer is a T5 Unigram tokenizer built in-process from a fixed piece
list (`tiny_t5_tokenizer`): T5-style ids (<pad>=0, </s>=1, <unk>=2), any ASCII prompt tokenizes.

Sizes are chosen to be consistent with what each pipeline computes:
- CogVideoX: VAE with 4 blocks (spatial /8) and temporal compression 4, 4 latent channels = the
  transformer's in_channels; T5 d_model = text_embed_dim; max_sequence_length = max_text_seq_length
  (CogVideoX 1.0 adds positional embeddings over text + video tokens). 9 frames at 32x32 give
  (9 - 1) / 4 + 1 = 3 latent frames of 4x4, i.e. 3 x 2x2 = 12 video tokens + 16 text tokens.
- Latte: 2D VAE (spatial /2), latents (B, 4, F, 8, 8) for 16x16 frames; F = video_length must equal
  the transformer's `video_length` (its temporal positional embedding has that length);
  out_channels = 2 x in_channels because the pipeline keeps the first half (learned sigma).
- Wan 2.1: Wan VAE (spatial /8, temporal /4, z_dim 16 = transformer in_channels), UMT5 encoder.
- Flux: CLIP (pooled, 16) + T5 (32 = joint_attention_dim), 16-channel VAE (/8), packed 2x2 latents (64 channels).

`*_CALL` dicts hold matching pipeline call arguments (frames, size, sequence length, steps).
"""

from __future__ import annotations

import string
from typing import Any

import torch

PROMPT = "A panda in a red jacket plays guitar in a bamboo forest."
NEGATIVE_PROMPT = "blurry, low quality"

# Pipeline call arguments that fit the tiny components below (eager CPU: ~1-3 s per pipeline call).
COGVIDEOX_CALL: dict[str, Any] = dict(num_frames=9, height=32, width=32, num_inference_steps=10,
                                      guidance_scale=6.0, max_sequence_length=16)
LATTE_CALL: dict[str, Any] = dict(video_length=4, height=16, width=16, num_inference_steps=10, guidance_scale=6.0,
                                  clean_caption=False)
WAN_CALL: dict[str, Any] = dict(num_frames=5, height=32, width=32, num_inference_steps=10, guidance_scale=5.0,
                                max_sequence_length=16)
FLUX_CALL: dict[str, Any] = dict(height=32, width=32, num_inference_steps=10, guidance_scale=3.5,
                                 max_sequence_length=16)

_WORDS = ("a an the and in on of with panda guitar plays playing bamboo forest small red jacket dressed cat dog "
          "video sky blue green low quality blurry").split()


def tiny_t5_tokenizer():
    """A T5 tokenizer (Unigram, SentencePiece-style '▁' word marks) from a fixed piece list.

    Pieces: T5's special tokens at their usual ids, a few whole words, and every printable ASCII
    character with and without the word mark, so any ASCII prompt tokenizes without <unk>.
    transformers >= 5 builds `T5Tokenizer` from a `(piece, score)` list directly; no file needed.
    """
    from transformers import T5Tokenizer

    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [("▁" + w, -1.0) for w in _WORDS]
    chars = string.ascii_letters + string.digits + string.punctuation
    pieces += [(c, -3.0) for c in chars] + [("▁" + c, -3.5) for c in chars]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def tiny_clip_tokenizer():
    """A CLIP tokenizer (byte-level BPE) whose vocabulary is every byte symbol, alone and word-final, and no
    merges: any prompt tokenizes, one symbol per token. transformers >= 5 takes the vocab and merges directly."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for symbol in symbols:
        vocab.setdefault(symbol, len(vocab))
        vocab.setdefault(symbol + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def flux_pipeline(seed: int = 0, num_layers: int = 1, num_single_layers: int = 2):
    """A `diffusers.FluxPipeline` (Flux-dev layout: guidance embedding, no CFG) with tiny random weights.

    Its transformer takes `timestep / 1000` and the pipeline sets `current_timestep`; latents are packed
    2x2 patches of a 16-channel latent at 1/8 of the image size (32x32 -> 4x4 -> 4 tokens of 64 channels).
    """
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5TokenizerFast  # noqa: F401

    torch.manual_seed(seed)
    clip_tokenizer = tiny_clip_tokenizer()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(clip_tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=77, projection_dim=16, bos_token_id=0, eos_token_id=1,
        pad_token_id=1)).eval()
    t5_tokenizer = tiny_t5_tokenizer()
    text_encoder_2 = _t5_encoder(len(t5_tokenizer), d_model=32)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=num_layers, num_single_layers=num_single_layers, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=16, guidance_embeds=True,
        axes_dims_rope=(4, 6, 6)).eval()
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8),
                        layers_per_block=1, latent_channels=16, norm_num_groups=2, use_quant_conv=False,
                        use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035).eval()
    sched = FlowMatchEulerDiscreteScheduler()
    pipe = FluxPipeline(scheduler=sched, vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer,
                        text_encoder_2=text_encoder_2, tokenizer_2=t5_tokenizer, transformer=transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _t5_encoder(vocab_size: int, d_model: int):
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=vocab_size, d_model=d_model, d_kv=8, d_ff=2 * d_model, num_layers=1, num_heads=2,
                      relative_attention_num_buckets=8, relative_attention_max_distance=32, dropout_rate=0.0,
                      feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return T5EncoderModel(config).eval()


def cogvideox_pipeline(seed: int = 0, scheduler: str = "ddim", num_layers: int = 2):
    """A `diffusers.CogVideoXPipeline` (CogVideoX 1.0 / 2B layout) with tiny random weights.

    `scheduler`: "ddim" (CogVideoXDDIMScheduler, as CogVideoX-2b) or "dpm" (CogVideoXDPMScheduler, as
    CogVideoX-5b). Both use trailing spacing, so 10 steps run timesteps 999, 899, ..., 99.
    """
    from diffusers import (AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXDPMScheduler, CogVideoXPipeline,
                           CogVideoXTransformer3DModel)

    torch.manual_seed(seed)
    tokenizer = tiny_t5_tokenizer()
    text_encoder = _t5_encoder(len(tokenizer), d_model=32)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=16,
        text_embed_dim=32, num_layers=num_layers, sample_width=4, sample_height=4, sample_frames=9, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=COGVIDEOX_CALL["max_sequence_length"]).eval()
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
        layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4).eval()
    scheduler_cls = {"ddim": CogVideoXDDIMScheduler, "dpm": CogVideoXDPMScheduler}[scheduler]
    sched = scheduler_cls(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                          prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True,
                          timestep_spacing="trailing", snr_shift_scale=3.0)
    pipe = CogVideoXPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                             scheduler=sched)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def latte_pipeline(seed: int = 0, num_layers: int = 2):
    """A `diffusers.LattePipeline` with tiny random weights: spatial blocks (`transformer_blocks`) and
    temporal blocks (`temporal_transformer_blocks`), each with self and cross attention."""
    from diffusers import AutoencoderKL, DDIMScheduler, LattePipeline, LatteTransformer3DModel

    torch.manual_seed(seed)
    tokenizer = tiny_t5_tokenizer()
    text_encoder = _t5_encoder(len(tokenizer), d_model=32)
    transformer = LatteTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=8, num_layers=num_layers,
        cross_attention_dim=32, sample_size=8, patch_size=2, video_length=LATTE_CALL["video_length"],
        caption_channels=32, norm_type="ada_norm_single").eval()
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 8), latent_channels=4, layers_per_block=1,
        norm_num_groups=2, sample_size=16, scaling_factor=1.0).eval()
    # clip_sample keeps the random-weight x0 predictions (and so the latents) in [-1, 1].
    sched = DDIMScheduler(beta_schedule="linear", beta_start=0.0001, beta_end=0.02, clip_sample=True,
                          timestep_spacing="trailing")
    pipe = LattePipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                         scheduler=sched)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def wan_pipeline(seed: int = 0, num_layers: int = 2):
    """A `diffusers.WanPipeline` (Wan 2.1 T2V layout) with tiny random weights.

    Unlike CogVideoX and Latte, Wan runs classifier-free guidance as two transformer calls per step
    with the same timestep: `cache_context("cond")` then `cache_context("uncond")`.
    """
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    tokenizer = tiny_t5_tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=2,
        relative_attention_num_buckets=8, relative_attention_max_distance=32, dropout_rate=0.0,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)).eval()
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=32, ffn_dim=64, num_layers=num_layers, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32).eval()
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True]).eval()
    sched = FlowMatchEulerDiscreteScheduler(shift=3.0)
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                       scheduler=sched)
    pipe.set_progress_bar_config(disable=True)
    return pipe


PIPELINES = {"cogvideox": (cogvideox_pipeline, COGVIDEOX_CALL), "latte": (latte_pipeline, LATTE_CALL),
             "wan": (wan_pipeline, WAN_CALL), "flux": (flux_pipeline, FLUX_CALL)}
