"""Learning-rate schedules against their documented formulas (float64 here, float32 in pyml), their configs,
and how an optimizer reads and advances them."""
import math

import numpy as np
import pytest

import pyml
from pyml.optimizers import schedules

STEPS = [0, 1, 5, 9, 10, 11, 25, 99, 100, 250]


def exponential(step, lr=0.1, decay_steps=10, rate=0.5, staircase=False):
    p = step / decay_steps
    return lr * rate ** (math.floor(p) if staircase else p)


def polynomial(step, lr=0.1, decay_steps=10, end=0.001, power=2.0, cycle=False):
    if cycle:
        decay_steps = decay_steps * (1 if step == 0 else math.ceil(step / decay_steps))
    else:
        step = min(step, decay_steps)
    return (lr - end) * (1 - step / decay_steps) ** power + end


def cosine(step, lr=0.1, decay_steps=50, alpha=0.1, target=None, warmup=0):
    if target is None:
        step = min(step, decay_steps)
        return lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * step / decay_steps)) + alpha)
    step = min(step, decay_steps + warmup)
    if step < warmup:
        return lr + (target - lr) * step / warmup
    return target * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * (step - warmup) / decay_steps)) + alpha)


def restarts(step, lr=0.1, first=10, t_mul=2.0, m_mul=0.5, alpha=0.0):
    start, length, scale = 0, first, 1.0  # walk the periods: each t_mul times longer, m_mul times lower
    while step >= start + length:
        start, length, scale = start + length, length * t_mul, scale * m_mul
    fraction = (step - start) / length
    return lr * ((1 - alpha) * scale * 0.5 * (1 + math.cos(math.pi * fraction)) + alpha)


CASES = [
    (schedules.ExponentialDecay(0.1, 10, 0.5), exponential),
    (schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True), lambda s: exponential(s, staircase=True)),
    (schedules.PiecewiseConstantDecay([10, 100], [0.1, 0.01, 0.001]),
     lambda s: 0.1 if s <= 10 else 0.01 if s <= 100 else 0.001),
    (schedules.PolynomialDecay(0.1, 10, 0.001, power=2.0), polynomial),
    (schedules.PolynomialDecay(0.1, 10, 0.001, power=2.0, cycle=True), lambda s: polynomial(s, cycle=True)),
    (schedules.InverseTimeDecay(0.1, 10, 0.5), lambda s: 0.1 / (1 + 0.5 * s / 10)),
    (schedules.InverseTimeDecay(0.1, 10, 0.5, staircase=True), lambda s: 0.1 / (1 + 0.5 * math.floor(s / 10))),
    (schedules.CosineDecay(0.1, 50, alpha=0.1), cosine),
    (schedules.CosineDecay(0.0, 50, alpha=0.1, warmup_target=0.2, warmup_steps=20),
     lambda s: cosine(s, lr=0.0, target=0.2, warmup=20)),
    (schedules.CosineDecayRestarts(0.1, 10, t_mul=2.0, m_mul=0.5), restarts),
    (schedules.CosineDecayRestarts(0.1, 10, t_mul=1.0, m_mul=0.5, alpha=0.1),
     lambda s: restarts(s, t_mul=1.0, alpha=0.1)),
]


@pytest.mark.parametrize("schedule, formula", CASES, ids=lambda c: type(c).__name__ if hasattr(c, "get_config") else "")
def test_schedule_values_follow_the_formula(schedule, formula):
    for step in STEPS:
        value = schedule(step)
        assert value.dtype == np.float32, "evaluated in float32, as Keras"
        assert float(value) == pytest.approx(formula(step), rel=2e-6, abs=1e-9), f"step {step}"


@pytest.mark.parametrize("schedule", [c[0] for c in CASES], ids=lambda c: type(c).__name__)
def test_schedule_config_round_trip(schedule):
    restored = schedules.deserialize(schedules.serialize(schedule))
    assert type(restored) is type(schedule) and restored.get_config() == schedule.get_config()
    assert all(restored(s) == schedule(s) for s in STEPS)


def test_the_optimizer_reads_the_schedule_at_its_iterations_and_refuses_a_number():
    schedule = schedules.PiecewiseConstantDecay([1], [0.5, 0.25])
    opt = pyml.optimizers.SGD(learning_rate=schedule)
    w = pyml.Variable([0.0], name="w")
    rates = []
    for _ in range(3):
        rates.append(opt.learning_rate)
        opt.apply_gradients([(pyml.Tensor([1.0]), w)])
    assert rates == [0.5, 0.5, 0.25] and w.numpy()[0] == pytest.approx(-1.25)
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        opt.learning_rate = 0.1
    config = pyml.optimizers.serialize(opt)["config"]
    assert config["learning_rate"] == {"class_name": "PiecewiseConstantDecay", "config": schedule.get_config()}


def test_bad_schedule_arguments_are_named():
    with pytest.raises(ValueError, match="decay_steps > 0"):
        schedules.CosineDecay(0.1, 0)
    with pytest.raises(ValueError, match="one more value than boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="Unknown learning rate schedule: known ones are CosineDecay"):
        schedules.deserialize({"class_name": "Warmup", "config": {}})
