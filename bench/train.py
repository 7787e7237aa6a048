"""Training throughput and model FLOPs: samples/s per resolution, FLOPs per sample, MFU on a GPU.

One training step = both identities' batches through the model (one shared encoder pass, two
decodes), the losses, backward and an Adam update — exactly what ``faceplate train`` runs, on
synthetic tensors so the number is the model's (the data loader runs in parallel workers).
A *sample* is one face (a batch of B pairs is 2·B samples).

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` over one full step (forward, losses,
backward; convolutions and matrix products). MFU = achieved FLOP/s ÷ ``--peak-tflops``.

    python bench/train.py                              # CPU, 128 and 256 px, small fixed batch
    python bench/train.py --device cuda --bf16 --channels-last --resolutions 256 --batch 32 --width 64

Prints a table and (with ``--json``) writes the numbers. Needs only torch (no OpenImageIO).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

import torch  # noqa: E402

from faceplate.train.losses import SwapLoss  # noqa: E402
from faceplate.train.models import ModelSpec, TrainNet, build_model  # noqa: E402


def make_step(args, res: int, device: torch.device):
    torch.manual_seed(0)
    model = build_model(ModelSpec(name=args.model, resolution=res, width=args.width, ae_dims=args.ae_dims))
    net = TrainNet(model).to(device)
    if args.channels_last:
        net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=5e-5, betas=(0.5, 0.999))
    loss_fn = SwapLoss({"l1": 1.0, "ssim": 1.0, "mask": 1.0}, 3.0)
    fwd = torch.compile(net) if args.compile else net
    g = torch.Generator(device="cpu").manual_seed(1)
    b = args.batch

    def t(c):
        x = torch.rand(b, c, res, res, generator=g).to(device)
        return x.contiguous(memory_format=torch.channels_last) if args.channels_last else x

    data = {k: t(3) for k in ("in_a", "tgt_a", "mask_a", "in_b", "tgt_b", "mask_b")}
    amp = args.bf16 and device.type == "cuda"

    def step():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            ra, ma, rb, mb = fwd(data["in_a"], data["in_b"])
        la, _ = loss_fn(ra, ma, data["tgt_a"], data["mask_a"])
        lb, _ = loss_fn(rb, mb, data["tgt_b"], data["mask_b"])
        opt.zero_grad(set_to_none=True)
        (la + lb).backward()
        opt.step()
        return la + lb

    n_params = sum(p.numel() for p in net.parameters())
    return step, net, n_params


def count_flops(args, res: int) -> tuple[float, float]:
    """(forward, full-step) FLOPs **per sample** (counted on CPU in fp32 at batch 2: FLOPs per sample
    do not depend on the batch size, and counting runs the step)."""
    from torch.utils.flop_counter import FlopCounterMode

    b = min(args.batch, 2)
    cpu_args = argparse.Namespace(**{**vars(args), "batch": b, "compile": False, "channels_last": False,
                                     "bf16": False})
    step, net, _ = make_step(cpu_args, res, torch.device("cpu"))
    x = torch.rand(b, 3, res, res)
    with FlopCounterMode(display=False) as fc:
        with torch.no_grad():
            net(x, x)
    fwd = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        step()
    return float(fwd) / (2 * b), float(fc.get_total_flops()) / (2 * b)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(args, res: int, device: torch.device) -> dict:
    fwd_per_sample, step_per_sample = count_flops(args, res)
    step, _, n_params = make_step(args, res, device)
    for _ in range(args.warmup):
        step()
    sync(device)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        sync(device)
        times.append(time.perf_counter() - t0)
    assert torch.isfinite(loss).item()
    times.sort()
    med = times[len(times) // 2]
    samples = 2 * args.batch
    row = {
        "resolution": res, "batch_pairs": args.batch, "samples_per_step": samples, "model": args.model,
        "width": args.width, "ae_dims": args.ae_dims, "params": n_params, "device": str(device),
        "bf16": bool(args.bf16 and device.type == "cuda"), "channels_last": args.channels_last,
        "compile": args.compile, "step_s_median": med, "step_s_min": times[0],
        "samples_per_s": samples / med,
        "fwd_gflops_per_sample": fwd_per_sample / 1e9,
        "step_gflops_per_sample": step_per_sample / 1e9,
        "achieved_tflops": step_per_sample * samples / med / 1e12,
    }
    if args.peak_tflops:
        row["peak_tflops"] = args.peak_tflops
        row["mfu"] = row["achieved_tflops"] / args.peak_tflops
    if device.type == "cuda":
        row["max_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2 ** 30
        row["gpu"] = torch.cuda.get_device_name(device)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--resolutions", type=int, nargs="+", default=[128, 256])
    p.add_argument("--batch", type=int, default=4, help="pairs per step (fixed across resolutions)")
    p.add_argument("--model", default="original", choices=("original", "liae"))
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--ae-dims", type=int, default=128)
    p.add_argument("--steps", type=int, default=3, help="timed steps (the median is reported)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--bf16", action="store_true", help="CUDA autocast bfloat16")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    p.add_argument("--peak-tflops", type=float, default=0.0, help="device peak for MFU (H200 bf16 dense: 989)")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    rows = [bench(args, r, device) for r in args.resolutions]
    print(f"{'res':>5} {'batch':>5} {'params':>10} {'step s':>8} {'samples/s':>10} {'GFLOP/sample':>13} "
          f"{'TFLOP/s':>8} {'MFU':>6}")
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else "-"
        print(f"{r['resolution']:>5} {r['batch_pairs']:>5} {r['params']:>10} {r['step_s_median']:>8.3f} "
              f"{r['samples_per_s']:>10.2f} {r['step_gflops_per_sample']:>13.2f} {r['achieved_tflops']:>8.3f} {mfu:>6}")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        print(f"ratio {b['resolution']}/{a['resolution']} px: FLOPs per sample x{b['step_gflops_per_sample'] / a['step_gflops_per_sample']:.2f}, "
              f"samples/s x{b['samples_per_s'] / a['samples_per_s']:.3f}")
    summary = {"rows": rows, "torch": torch.__version__, "threads": torch.get_num_threads(),
               "cpu_count": os.cpu_count()}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(args.json).with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
