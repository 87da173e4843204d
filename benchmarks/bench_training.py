"""Training speed of the walker on this machine: walks per second, and time to reach the figures.

    python benchmarks/bench_training.py [--store train.vfstore] [--steps 60] [--set key=value ...]
    python benchmarks/bench_training.py --run models/default/run     # add the run's own time line

Table 1: training walks per second (T steps each) of ``vertexfinder.training`` for the default
configuration (or the one given with --set), fed by the on-the-fly WalkDataset from an event
store (or from the simulation when no store is given), teacher-only and with the on-policy mix,
measured over ``--steps`` batches after a warm-up that traces the graph.
Table 2 (with --run): from a run folder's history.csv, the cumulative training time at which the
validation figures (primary walks within 1 cm, class accuracy) were first reached.
"""

import argparse
import csv
import time
from pathlib import Path


def rate(config, source, steps, policy):
    import keras

    from vertexfinder.training import compile_walker, make_dataset, refresh_policy

    keras.utils.set_random_seed(config.seed)
    ds = make_dataset(config, source)
    model = compile_walker(config)
    if policy:
        refresh_policy(model, ds, config, 0)
    x, y = ds[0]
    model.train_on_batch(x, y)  # trace
    t0 = time.perf_counter()
    for i in range(steps):
        x, y = ds[1 + i % (len(ds) - 1)]
        model.train_on_batch(x, y)
    walks = steps * config.batch_size
    return walks / (time.perf_counter() - t0), model.count_params()


def run_table(run_dir):
    with open(Path(run_dir) / "history.csv") as f:
        rows = list(csv.DictReader(f))
    elapsed, first = 0.0, {}
    goals = [("val_within_1cm", 0.5), ("val_within_1cm", 0.7), ("val_within_1cm", 0.8),
             ("val_class_accuracy", 0.8), ("val_class_accuracy", 0.9)]
    for r in rows:
        elapsed += float(r.get("epoch_seconds") or 0.0)
        for key, cut in goals:
            if (key, cut) not in first and float(r.get(key) or "nan") >= cut:
                first[(key, cut)] = (int(r["epoch"]), elapsed)
    print(f"\n{'validation figure':<32}{'epoch':>8}{'training time':>16}")
    for key, cut in goals:
        e, t = first.get((key, cut), (None, None))
        print(f"{key + ' >= ' + str(cut):<32}{'-' if e is None else e:>8}{'-' if t is None else f'{t / 60:.1f} min':>16}")
    last = rows[-1]
    print(f"last epoch {last['epoch']}: val_within_1cm {float(last['val_within_1cm']):.3f}, "
          f"val_class_accuracy {float(last['val_class_accuracy']):.3f}, total {elapsed / 60:.1f} min")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--config", default=None)
    parser.add_argument("--run", default=None)
    args = parser.parse_args(argv)

    from vertexfinder.training import config_from_toml, event_sources

    config = config_from_toml(args.config, args.overrides + ([f"store='{args.store}'"] if args.store else []))
    source, _ = event_sources(config, validation=False)
    print(f"walker: K={config.num_levels} levels of {config.glimpse_size}, T={config.num_steps} steps, "
          f"filters {config.filters}, GRU({config.recurrent_units}), batch {config.batch_size}")
    print(f"\n{'training (2 cores)':<32}{'walks/s':>10}{'parameters':>12}")
    for name, policy in (("teacher walks", False), (f"with {config.policy_fraction or 0.5:.0%} on-policy", True)):
        cfg = config
        if policy and not cfg.policy_fraction:
            from dataclasses import replace

            cfg = replace(config, policy_fraction=0.5)
        r, n = rate(cfg, source, args.steps, policy)
        print(f"{name:<32}{r:>10,.0f}{n:>12,}")
    if args.run:
        run_table(args.run)


if __name__ == "__main__":
    main()
