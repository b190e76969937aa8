"""One eager training step of the digits MLP, timed by phase: where pyml's per-op dispatch cost goes.

    $ python benchmarks/train_step.py                  # 9 rounds of 200 steps, batch 32
    $ python benchmarks/train_step.py --steps 500 --rounds 5

The step is what ``fit`` runs per batch (``train_step`` then the metric update), on one fixed batch of
the demo's digits, with the demo's model (Dense 64 relu -> Dense 10 softmax, Adam, sparse categorical
cross-entropy, accuracy). Each phase is timed in process CPU time (``time.process_time``), so time the
process spends waiting for a core on a busy machine is not counted; each figure is the best round's
mean. BLAS runs on one thread, as in ``train_speed.py``.

Phases: forward + loss (under the tape), gradient (``tape.gradient``), apply (``apply_gradients``),
metrics (loss tracker + compiled metrics + logs), and the whole step.
"""
import argparse
import sys
import time

import common

PHASES = ("forward + loss", "gradient", "apply", "metrics", "step")


def time_steps(model, x, y, steps):
    """Mean seconds per step of each phase over ``steps`` steps."""
    from pyml.autodiff import GradientTape

    totals = dict.fromkeys(PHASES, 0.0)
    variables = model.trainable_weights
    for _ in range(steps):
        t0 = time.process_time()
        with GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x, y, y_pred)
        t1 = time.process_time()
        grads = tape.gradient(loss, variables)
        t2 = time.process_time()
        model.optimizer.apply_gradients(zip(grads, variables))
        t3 = time.process_time()
        model._update_metrics(loss, [], x, y, y_pred, None)
        t4 = time.process_time()
        for phase, seconds in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
            totals[phase] += seconds
    return {phase: seconds / steps for phase, seconds in totals.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="steps per round (default 200)")
    parser.add_argument("--rounds", type=int, default=9, help="rounds; the best one is reported (default 9)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import pyml

    demo = common.load_digits_demo()
    x_train, _, y_train, _ = demo.load_data(args.seed)
    pyml.set_random_seed(args.seed)
    model = demo.build_model()
    model.fit(x_train[:64], y_train[:64], epochs=1, batch_size=32, verbose=0)  # builds the model and optimizer
    x, y = pyml.Tensor(x_train[:32]), pyml.Tensor(y_train[:32])
    rounds = [time_steps(model, x, y, args.steps) for _ in range(args.rounds)]
    best = min(rounds, key=lambda r: r["step"])
    median = sorted(r["step"] for r in rounds)[len(rounds) // 2]
    print(f"machine: {common.machine_summary()}")
    common.print_table(f"One training step of the digits MLP, batch 32 (best of {args.rounds} rounds of "
                       f"{args.steps} steps, process CPU time)",
                       ["phase", "us per step", "share"],
                       [[phase, round(best[phase] * 1e6), f"{best[phase] / best['step']:.0%}"] for phase in PHASES],
                       notes=[f"median step over the rounds: {median * 1e6:.0f} us"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
