"""How fast the instant network's training batches come, made in the loop or by workers.

    python benchmarks/bench_train_batches.py --data ~/data/photos --limit 1000 \
        [--batch 64] [--sizes 144,160,176] [--workers 0,1,2] [--steps 40]

Not a test; numbers go to RESULTS.md. Builds the trainer as ``train_instant`` does (a tiny
network, so that only the data counts) and times ``--steps`` batches after a warm-up of as
many as there are workers: what a GPU, whose training step takes milliseconds, would wait for.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from piggydesk.models import ab_bins
from piggydesk.models.instant_net import InstantNetConfig
from piggydesk.training.pack import is_pack, load_pack
from piggydesk.training.photos import PhotoCache
from piggydesk.training.train_instant import TrainConfig, Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a photo folder or a training pack")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--sizes", default="144,160,176")
    p.add_argument("--workers", default="0,1,2")
    p.add_argument("--steps", type=int, default=40)
    args = p.parse_args()
    torch.set_num_threads(1)
    data = Path(args.data).expanduser()
    if is_pack(data):
        cache = load_pack(data, "train")
    else:
        cache = PhotoCache.build(data, "train", 192, args.limit)
    cfg = TrainConfig(batch=args.batch, sizes=tuple(int(s) for s in args.sizes.split(",")),
                      sky_foliage_emphasis=4.0, min_scale=0.7)
    net = InstantNetConfig(widths=(8, 8, 16, 16), depths=(1, 1, 1, 1),
                           num_bins=ab_bins.num_bins())
    print(f"{len(cache)} photos, batch {args.batch}, crops {args.sizes} px")
    with tempfile.TemporaryDirectory() as run:
        trainer = Trainer(cache, None, Path(run), cfg, net, torch.device("cpu"))
        for count in (int(w) for w in args.workers.split(",")):
            trainer.start_workers(count)
            try:
                for _ in range(max(count, 1)):  # warm-up: the workers fill their queue
                    trainer._batch()
                    trainer.step_num += 1
                times = []
                for _ in range(args.steps):
                    start = time.perf_counter()
                    trainer._batch()
                    times.append(time.perf_counter() - start)
                    trainer.step_num += 1
            finally:
                trainer.stop_workers()
            median = statistics.median(times)
            print(f"workers {count}: {sum(times) / len(times):.3f} s a batch on average, median "
                  f"{median:.3f} s, {args.batch * len(times) / sum(times):.0f} crops/s")


if __name__ == "__main__":
    main()
