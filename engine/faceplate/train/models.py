"""Swap models, chosen by name (:data:`MODELS`).

Every model maps code values ``(N, 3, R, R)`` in [0, 1] to ``(rgb (N, 3, R, R), mask (N, 1, R, R))``,
both in [0, 1] (sigmoid), *as* one identity: ``model(x, "a")`` reconstructs/renders identity A,
``model(x, "b")`` identity B. The swap A→B is ``model(face_of_a, "b")``.

- ``original`` — the book's design (Faceswap "original"): one shared encoder (4 strided convs), a
  dense bottleneck, one decoder per identity (3 pixel-shuffle upscales), learned mask output.
- ``liae`` — stronger variant in the spirit of DeepFaceLab's LIAE: shared encoder, two
  intermediate dense blocks (``shared`` for both identities, ``inter_a`` for A only), one shared
  decoder with residual blocks. Identity B is coded ``[shared, shared]``, A ``[inter_a, shared]``,
  so A→B is ``[shared(a), shared(a)]`` decoded.

``R`` is a multiple of 16 in 64..512; the bottleneck works at ``R/16`` px.

With ``follow_exposure`` every model carries the plate's exposure and white balance across the swap
exactly: the mean code value of the crop's centre (:func:`centre_level`, per channel) is measured
against the average of the *source* identity's face set (``levels``, set from the face sets before
training), that offset is taken off the input and added to the output (code values are ACEScct-like,
so an offset is a gain in linear light). The network then only models the face; a plate that drifts
by 0.3 stop gives a swap that drifts by 0.3 stop. B's own skin tone is kept: only A's deviations from
A's average carry over, unlike colour matching, which pulls B's tone to the plate's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from faceplate.errors import InputError

IDENTITIES = ("a", "b")


@dataclass(frozen=True)
class ModelSpec:
    name: str = "original"
    resolution: int = 128
    width: int = 64
    ae_dims: int = 256
    follow_exposure: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.1)


class Down(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 5, 2, 2), _act())


class Up(nn.Sequential):
    """3×3 conv to 4× channels, then pixel shuffle: ×2 spatial."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout * 4, 3, 1, 1), _act(), nn.PixelShuffle(2))


class ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv2(self.act(self.conv1(x))))


class Encoder(nn.Module):
    """(N, 3, R, R) -> (N, 8w, R/16, R/16)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(Down(3, w), Down(w, 2 * w), Down(2 * w, 4 * w), Down(4 * w, 8 * w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Inter(nn.Module):
    """Dense bottleneck: (N, cin, L, L) -> dense(ae_dims) -> (N, cout, L, L) -> upscale -> (N, cout, 2L, 2L)."""

    def __init__(self, cin: int, low: int, ae_dims: int, cout: int) -> None:
        super().__init__()
        self.low, self.cout = low, cout
        self.fc1 = nn.Linear(cin * low * low, ae_dims)
        self.fc2 = nn.Linear(ae_dims, cout * low * low)
        self.up = Up(cout, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc2(self.fc1(x.flatten(1)))
        return self.up(z.unflatten(1, (self.cout, self.low, self.low)))


class Decoder(nn.Module):
    """(N, cin, R/8, R/8) -> rgb (N, 3, R, R), mask (N, 1, R, R), sigmoid."""

    def __init__(self, cin: int, width: int, residual: bool) -> None:
        super().__init__()
        w = width
        layers: list[nn.Module] = []
        for a, b in ((cin, 4 * w), (4 * w, 2 * w), (2 * w, w)):
            layers.append(Up(a, b))
            if residual:
                layers.append(ResBlock(b))
        self.net = nn.Sequential(*layers)
        self.rgb = nn.Conv2d(w, 3, 5, 1, 2)
        self.mask = nn.Conv2d(w, 1, 5, 1, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(x)
        return torch.sigmoid(self.rgb(h)), torch.sigmoid(self.mask(h))


def centre_level(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, R, R) code values -> (N, 3, 1, 1): the mean of the crop's central half (the face)."""
    r = x.shape[-1]
    lo, hi = r // 4, r - r // 4
    return x[:, :, lo:hi, lo:hi].mean(dim=(2, 3), keepdim=True)


def _check_identity(identity: str) -> None:
    if identity not in IDENTITIES:
        raise InputError(f"identity: expected one of {IDENTITIES}, found {identity!r}")


class SwapModel(nn.Module):
    """Base: ``encode`` (shared) and ``decode(features, identity)``."""

    spec: ModelSpec
    levels: torch.Tensor  # (2, 3): centre level of A's and B's face sets (follow_exposure only)

    def _init_levels(self) -> None:
        if self.spec.follow_exposure:
            self.register_buffer("levels", torch.full((len(IDENTITIES), 3), 0.5))

    def set_levels(self, level_a, level_b) -> None:
        """Each identity's face-set average of :func:`centre_level` (3 code values each)."""
        self.levels.copy_(torch.as_tensor([list(level_a), list(level_b)], dtype=torch.float32))

    def offset(self, x: torch.Tensor, source: str) -> torch.Tensor | None:
        """(N, 3, 1, 1): how far the crop's level is from ``source``'s average (None: not followed)."""
        if not self.spec.follow_exposure:
            return None
        _check_identity(source)
        return centre_level(x) - self.levels[IDENTITIES.index(source)].to(x.dtype).view(1, 3, 1, 1)

    @staticmethod
    def add_offset(rgb: torch.Tensor, d: torch.Tensor | None) -> torch.Tensor:
        return rgb if d is None else (rgb + d).clamp(0.0, 1.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, feats: torch.Tensor, identity: str) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, identity: str, source: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Render ``identity`` from faces ``x`` of identity ``source`` (default: ``identity`` itself)."""
        d = self.offset(x, source or identity)
        rgb, mask = self.decode(self.encode(x if d is None else x - d), identity)
        return self.add_offset(rgb, d), mask


class OriginalModel(SwapModel):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        w, low = spec.width, spec.resolution // 16
        self.encoder = Encoder(w)
        self.inter = Inter(8 * w, low, spec.ae_dims, 8 * w)
        self.decoder_a = Decoder(8 * w, w, residual=False)
        self.decoder_b = Decoder(8 * w, w, residual=False)
        self._init_levels()

    def encode(self, x):
        return self.inter(self.encoder(x))

    def decode(self, feats, identity):
        _check_identity(identity)
        return (self.decoder_a if identity == "a" else self.decoder_b)(feats)


class LIAEModel(SwapModel):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        w, low = spec.width, spec.resolution // 16
        self.encoder = Encoder(w)
        self.inter_shared = Inter(8 * w, low, spec.ae_dims, 4 * w)
        self.inter_a = Inter(8 * w, low, spec.ae_dims, 4 * w)
        self.decoder = Decoder(8 * w, w, residual=True)
        self._init_levels()

    def encode(self, x):
        return self.encoder(x)

    def decode(self, feats, identity):
        _check_identity(identity)
        shared = self.inter_shared(feats)
        first = self.inter_a(feats) if identity == "a" else shared
        return self.decoder(torch.cat([first, shared], dim=1))


MODELS: dict[str, type[SwapModel]] = {"original": OriginalModel, "liae": LIAEModel}


def build_model(spec: ModelSpec) -> SwapModel:
    """The model named ``spec.name``; :class:`InputError` lists the valid names and sizes."""
    if spec.name not in MODELS:
        raise InputError(f"--model: expected one of {', '.join(MODELS)}, found {spec.name!r}")
    if not 64 <= spec.resolution <= 512 or spec.resolution % 16:
        raise InputError(f"--resolution: expected a multiple of 16 in 64..512, found {spec.resolution}")
    if spec.width < 1 or spec.ae_dims < 1:
        raise InputError(f"--width/--ae-dims: expected positive sizes, found {spec.width}/{spec.ae_dims}")
    return MODELS[spec.name](spec)


class TrainNet(nn.Module):
    """What one training step runs: both identities reconstructed from their warped inputs.

    One encoder pass over the concatenated batch; ``forward(wa, wb)`` -> (rgb_a, mask_a, rgb_b, mask_b).
    Every parameter is used (so DDP needs no unused-parameter search).
    """

    def __init__(self, model: SwapModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, wa: torch.Tensor, wb: torch.Tensor):
        m = self.model
        da, db = m.offset(wa, "a"), m.offset(wb, "b")
        if da is not None:
            wa, wb = wa - da, wb - db
        feats = m.encode(torch.cat([wa, wb], dim=0))
        fa, fb = feats[: wa.shape[0]], feats[wa.shape[0]:]
        ra, ma = m.decode(fa, "a")
        rb, mb = m.decode(fb, "b")
        return m.add_offset(ra, da), ma, m.add_offset(rb, db), mb


class SwapNet(nn.Module):
    """Export wrapper: ``face`` (N,3,R,R) float32 -> ``swap`` (N,3,R,R), ``mask`` (N,1,R,R), float32.

    ``direction`` "a2b" renders identity B onto faces of A; "b2a" the reverse. With ``half`` the
    network runs in float16 between float32 input and outputs.
    """

    def __init__(self, model: SwapModel, direction: str, half: bool = False) -> None:
        super().__init__()
        if direction not in ("a2b", "b2a"):
            raise InputError(f"--direction: expected a2b or b2a, found {direction!r}")
        self.model = model
        self.source, self.target = ("a", "b") if direction == "a2b" else ("b", "a")
        self.half_precision = half

    def forward(self, face: torch.Tensor):
        x = face.half() if self.half_precision else face
        rgb, mask = self.model(x, self.target, self.source)
        return rgb.float(), mask.float()
