"""Image-quality measures for `cachepass.tune`'s budgets beyond PSNR and relative L2 (measure.py): SSIM, written
here from its published formula, and LPIPS through the optional `lpips` package.

# NOTE [SSIM from the formula, not scikit-image]
scikit-image's `structural_similarity` pulls in SciPy and friends (tens of MB) for one function, and works on
NumPy arrays on the CPU. SSIM is a few convolutions, so it is written here in torch (any device, any float) from
Wang et al. 2004 with their settings: a gaussian window of 11 taps, sigma 1.5, K1 = 0.01, K2 = 0.03, population
(not sample) covariances; the mean is taken over the windows that fit inside the image, as scikit-image does with
`gaussian_weights=True, sigma=1.5, use_sample_covariance=False` (its reflect-padded filter then crop of the
window's radius equals a valid convolution). tests/test_tune.py checks it against a per-window loop written in
the test, and against scikit-image where that is installed.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .errors import ConfigError

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _images(tensor: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) float64: the last two dims are an image, every leading dim a channel of it."""
    if tensor.dim() < 2 or min(tensor.shape[-2:]) < SSIM_WINDOW:
        raise ConfigError(f"SSIM judges images of at least {SSIM_WINDOW}x{SSIM_WINDOW} in their last two dims (its "
                          f"gaussian window); got shape {tuple(tensor.shape)}: return the decoded image from "
                          f"generate, or use a 'psnr' or 'rel_l2' budget.")
    return tensor.detach().to(torch.float64).reshape(-1, 1, *tensor.shape[-2:])


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The normalised 1-D gaussian of `size` taps."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM of `a` against reference `b` (NOTE [SSIM from the formula, not scikit-image]); the dynamic
    range L is the reference's value range, as `psnr`'s peak. 1.0 for identical tensors."""
    x, y = _images(a), _images(b.to(a.device))
    if x.shape != y.shape:
        raise ValueError(f"ssim needs tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    g = gaussian_window().to(x.device)
    rows, cols = g.reshape(1, 1, -1, 1), g.reshape(1, 1, 1, -1)

    def blur(t: torch.Tensor) -> torch.Tensor:  # separable, valid: the windows that fit
        return F.conv2d(F.conv2d(t, rows), cols)

    span = float(y.max() - y.min())
    c1, c2 = (SSIM_K1 * span) ** 2, (SSIM_K2 * span) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


# LPIPS networks, built once per process: the package loads its weights on construction.
_LPIPS: dict[str, Any] = {}


def lpips_module() -> Any:
    """The `lpips` package's AlexNet LPIPS, or a ConfigError naming the install."""
    if "alex" not in _LPIPS:
        try:
            import lpips
        except ImportError as err:
            raise ConfigError("an 'lpips' budget needs the optional lpips package: pip install lpips (or "
                              "pip install 'cachepass[quality]'); or use 'psnr', 'ssim' or 'rel_l2'.") from err
        _LPIPS["alex"] = lpips.LPIPS(net="alex", verbose=False).eval()
    return _LPIPS["alex"]


def lpips_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean LPIPS (AlexNet) of `a` against reference `b`: RGB images (N, 3, H, W) or (3, H, W), both mapped to
    [-1, 1] by the reference's value range. Lower is closer."""
    if a.dim() not in (3, 4) or a.shape[-3] != 3:
        raise ConfigError(f"an 'lpips' budget judges RGB images, (N, 3, H, W) or (3, H, W); generate returned "
                          f"shape {tuple(a.shape)}: return the decoded image, or use 'psnr', 'ssim' or 'rel_l2'.")
    net = lpips_module()
    low, high = b.min(), b.max()

    def scaled(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().float().reshape(-1, *t.shape[-3:])
        return (t - low) / (high - low).clamp_min(1e-12) * 2 - 1

    with torch.no_grad():
        return float(net.to(a.device)(scaled(a), scaled(b.to(a.device))).mean())
