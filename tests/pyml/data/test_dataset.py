"""pyml.data.Dataset against plain Python / NumPy: order, counts, seeds, cardinality, errors."""
import math
import threading

import numpy as np
import pytest

import pyml
from pyml.data import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset, TensorSpec


def ints(ds):
    return [int(v) for v in ds]


def test_from_tensor_slices_rows_of_arrays_tuples_and_dicts():
    x, y = np.arange(12, dtype="float32").reshape(4, 3), np.array([3, 1, 4, 1])
    rows = list(Dataset.from_tensor_slices((x, {"label": y})))
    assert len(rows) == 4
    for i, (xi, d) in enumerate(rows):
        np.testing.assert_array_equal(xi, x[i])
        assert set(d) == {"label"} and d["label"] == y[i]
    lists = list(Dataset.from_tensor_slices([[1, 2], [3, 4]]))  # a list is one array, as in tf.data
    assert [r.tolist() for r in lists] == [[1, 2], [3, 4]]
    text = list(Dataset.from_tensor_slices(["ab", "c\x00"]))
    assert text == ["ab", "c\x00"]  # str elements of an object array: NumPy's "<U" would drop the NUL


def test_from_tensor_slices_rejects_mismatched_and_scalar_components():
    with pytest.raises(ValueError, match=r"same first dimension.*\[3, 2\]"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(2)))
    with pytest.raises(ValueError, match="first axis"):
        Dataset.from_tensor_slices(np.float32(1))


def test_map_unpacks_tuples_and_parallel_map_keeps_order():
    ds = Dataset.from_tensor_slices((np.arange(5), np.arange(5) * 2)).map(lambda a, b: a + b)
    assert ints(ds) == [3 * i for i in range(5)]
    dicts = Dataset.from_tensor_slices({"a": np.arange(3)}).map(lambda d: {"a": d["a"], "b": -d["a"]})
    assert [(int(e["a"]), int(e["b"])) for e in dicts] == [(0, 0), (1, -1), (2, -2)]
    gate = threading.Barrier(3, timeout=10)

    def slow_first(v):  # the first three calls wait for each other: only possible when they run at once
        if v < 3:
            gate.wait()
        return v * 10
    assert ints(Dataset.range(20).map(slow_first, num_parallel_calls=3)) == [10 * i for i in range(20)]
    assert ints(Dataset.range(20).map(lambda v: v + 1, num_parallel_calls=AUTOTUNE)) == list(range(1, 21))


def test_filter_and_its_errors():
    assert ints(Dataset.range(10).filter(lambda v: v % 3 == 1)) == [1, 4, 7]
    with pytest.raises(ValueError, match="scalar bool"):
        list(Dataset.range(3).filter(lambda v: v + 1))


@pytest.mark.parametrize("n,size,drop", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False), (2, 5, True)])
def test_batch_matches_numpy_split(n, size, drop):
    x = np.arange(n * 2, dtype="float32").reshape(n, 2)
    for ds in (Dataset.from_tensor_slices((x, np.arange(n))),  # the slicing fast path
               Dataset.from_tensor_slices((x, np.arange(n))).map(lambda a, b: (a, b))):  # element by element
        batches = list(ds.batch(size, drop_remainder=drop))
        stop = n - n % size if drop else n
        expected = [x[i:i + size] for i in range(0, stop, size)]
        assert len(batches) == len(expected) == ds.batch(size, drop).cardinality()
        for (xb, yb), e in zip(batches, expected):
            np.testing.assert_array_equal(xb, e)
            assert xb.dtype == np.float32 and yb.shape == (len(e),)


def test_batch_of_unequal_shapes_names_them_and_unbatch_inverts_batch():
    ragged = Dataset.from_generator(lambda: iter([np.zeros(2), np.zeros(3)]))
    with pytest.raises(ValueError, match=r"different shapes.*\(2,\), \(3,\)"):
        list(ragged.batch(2))
    ds = Dataset.from_tensor_slices({"a": np.arange(7)}).batch(3).unbatch()
    assert [int(e["a"]) for e in ds] == list(range(7)) and ds.cardinality() == UNKNOWN_CARDINALITY


def _shuffle_reference(values, buffer_size, picks):
    """tf.data's shuffle buffer written out in plain Python, with the picks given."""
    source, buffer, out = iter(values), [], []
    for v in source:
        buffer.append(v)
        if len(buffer) == buffer_size:
            break
    for pick in picks:
        out.append(buffer[pick])
        nxt = next(source, None)
        if nxt is None:
            buffer[pick] = buffer[-1]
            buffer.pop()
        else:
            buffer[pick] = nxt
    return out


def test_shuffle_follows_the_buffer_algorithm_with_its_seeded_picks():
    n, k, seed = 30, 7, 5
    uniforms = np.random.default_rng([seed, 0]).random(1024)  # the first pass draws from [seed, pass 0]
    sizes = [min(k, n - i) for i in range(n)]  # buffer occupancy at each output
    picks = [int(u * s) for u, s in zip(uniforms, sizes)]
    assert ints(Dataset.range(n).shuffle(k, seed=seed)) == _shuffle_reference(list(range(n)), k, picks)


def test_shuffle_buffer_bounds_how_early_an_element_comes_out():
    n, k = 200, 10
    out = ints(Dataset.range(n).shuffle(k, seed=1))
    assert sorted(out) == list(range(n))
    assert all(position >= value - k + 1 for position, value in enumerate(out))
    assert ints(Dataset.range(n).shuffle(1, seed=1)) == list(range(n))


def test_shuffle_seeds_reproduce_and_reshuffle_each_epoch():
    ds = Dataset.range(50).shuffle(50, seed=3)
    epochs = [ints(ds) for _ in range(3)]
    assert all(sorted(e) == list(range(50)) for e in epochs)
    assert epochs[0] != epochs[1] != epochs[2]
    again = Dataset.range(50).shuffle(50, seed=3)
    assert [ints(again) for _ in range(3)] == epochs
    fixed = Dataset.range(50).shuffle(50, seed=3, reshuffle_each_iteration=False)
    assert ints(fixed) == ints(fixed) == epochs[0]
    pyml.set_random_seed(11)
    unseeded = ints(Dataset.range(50).shuffle(50))
    pyml.set_random_seed(11)
    assert ints(Dataset.range(50).shuffle(50)) == unseeded


def test_shuffle_then_repeat_reshuffles_each_repetition_while_repeat_then_shuffle_mixes_them():
    per_pass = ints(Dataset.range(6).shuffle(6, seed=2).repeat(3))
    passes = [per_pass[i:i + 6] for i in range(0, 18, 6)]
    assert all(sorted(p) == list(range(6)) for p in passes) and len({tuple(p) for p in passes}) > 1
    mixed = ints(Dataset.range(6).repeat(3).shuffle(18, seed=2))
    assert sorted(mixed) == sorted(list(range(6)) * 3)
    assert any(sorted(mixed[i:i + 6]) != list(range(6)) for i in range(0, 18, 6))


def test_repeat_take_skip_and_their_cardinalities():
    ds = Dataset.range(4)
    assert ints(ds.repeat(2)) == [0, 1, 2, 3] * 2 and ds.repeat(2).cardinality() == 8
    assert ds.repeat().cardinality() == INFINITE_CARDINALITY
    assert ints(ds.repeat().take(10)) == ([0, 1, 2, 3] * 3)[:10] and ds.repeat().take(10).cardinality() == 10
    assert ints(ds.take(-1)) == [0, 1, 2, 3] and ints(ds.skip(-1)) == [] and ds.skip(-1).cardinality() == 0
    assert ints(ds.skip(1).take(2)) == [1, 2] and ds.skip(9).cardinality() == 0
    assert ints(Dataset.range(0).repeat()) == []  # an empty dataset repeated forever ends
    assert ds.filter(lambda v: True).repeat(3).cardinality() == UNKNOWN_CARDINALITY
    assert ds.filter(lambda v: True).take(2).cardinality() == UNKNOWN_CARDINALITY
    with pytest.raises(TypeError, match="infinite"):
        len(ds.repeat())
    assert len(ds.batch(3)) == 2
    with pytest.raises(ValueError, match=r"batch_size must be a positive int. Received: batch_size=0"):
        ds.batch(0)
    with pytest.raises(ValueError, match="count"):
        ds.take(-2)


def test_zip_and_concatenate():
    a, b = Dataset.range(3), Dataset.range(10, 15)
    assert [(int(x), int(y)) for x, y in Dataset.zip(a, b)] == [(0, 10), (1, 11), (2, 12)]
    assert Dataset.zip((a, b)).cardinality() == 3 and Dataset.zip(a, b.repeat()).cardinality() == 3
    named = list(Dataset.zip({"x": a, "y": b}))
    assert [(int(e["x"]), int(e["y"])) for e in named] == [(0, 10), (1, 11), (2, 12)]
    both = a.concatenate(b)
    assert ints(both) == [0, 1, 2, 10, 11, 12, 13, 14] and both.cardinality() == 8
    with pytest.raises(TypeError, match="datasets"):
        Dataset.zip(np.arange(3))


def test_cache_runs_the_pipeline_once_and_only_after_a_complete_pass():
    calls = []
    ds = Dataset.range(5).map(lambda v: calls.append(int(v)) or v * 2).cache()
    assert ints(ds.take(2)) == [0, 2]  # an incomplete pass: nothing cached
    assert ints(ds) == ints(ds) == [0, 2, 4, 6, 8]
    assert calls == [0, 1] + list(range(5))
    with pytest.raises(NotImplementedError, match="filename"):
        ds.cache("/tmp/x")


def test_from_generator_restarts_each_pass_and_checks_its_signature():
    def gen(limit):
        for i in range(limit):
            yield np.full((2,), i, dtype="float64"), i
    spec = (TensorSpec((2,), "float32"), TensorSpec((), "int32"))
    ds = Dataset.from_generator(gen, output_signature=spec, args=(3,))
    assert ds.cardinality() == UNKNOWN_CARDINALITY
    first, second = list(ds), list(ds)
    assert len(first) == len(second) == 3 and first[2][0].dtype == np.float32 and first[2][1].dtype == np.int32
    bad = Dataset.from_generator(gen, output_signature=(TensorSpec((3,)), TensorSpec(())), args=(2,))
    with pytest.raises(ValueError, match=r"element 0 .*expected shape \(3,\), received \(2,\)"):
        list(bad)
    floats = Dataset.from_generator(gen, output_signature=(TensorSpec((2,), "int32"), TensorSpec(())), args=(1,))
    with pytest.raises(ValueError, match="expected dtype int32, received float64"):
        list(floats)
    with pytest.raises(TypeError, match="callable"):
        Dataset.from_generator(gen(3))


def test_prefetch_produces_the_next_element_while_the_consumer_holds_the_current_one():
    produced = [threading.Event() for _ in range(4)]

    def record(v):
        produced[int(v)].set()
        return v
    ds = Dataset.range(4).map(record).prefetch(1)
    iterator = iter(ds)
    assert int(next(iterator)) == 0
    # Without a background producer, element 1 would only be made by the next `next()` call: this would time out
    assert produced[1].wait(timeout=30), "prefetch did not produce element 1 while element 0 was being used"
    assert ints(iterator) == [1, 2, 3]
    unbuffered = Dataset.range(4).map(record)
    for e in produced:
        e.clear()
    it = iter(unbuffered)
    next(it)
    assert not produced[1].wait(timeout=0.2)  # the control: no prefetch, no element 1 yet


def test_prefetch_passes_on_errors_and_stops_when_the_consumer_stops():
    def boom(v):
        if v == 2:
            raise RuntimeError("bad element 2")
        return v
    it = iter(Dataset.range(5).map(boom).prefetch(2))
    assert [int(next(it)), int(next(it))] == [0, 1]
    with pytest.raises(RuntimeError, match="bad element 2"):
        next(it)
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()
    stream = iter(Dataset.from_generator(endless).prefetch(1))
    assert next(stream) == 0
    stream.close()
    assert closed.wait(timeout=30), "the producer thread did not close its source after the consumer stopped"


def test_cardinality_of_a_chain_matches_counting():
    ds = Dataset.from_tensor_slices(np.arange(23)).shuffle(5, seed=0).map(lambda v: v).batch(4).prefetch(2)
    assert ds.cardinality() == math.ceil(23 / 4) == len(list(ds))


def test_row_fast_path_gives_what_the_element_path_gives():
    x, y = np.arange(46, dtype="float32").reshape(23, 2), np.arange(23)

    def chain(ds):
        return ds.shuffle(7, seed=1).repeat(2).skip(3).take(30).batch(4, drop_remainder=True)
    fast = chain(Dataset.from_tensor_slices((x, y)))  # picks and orders row numbers, gathers whole batches
    slow = chain(Dataset.from_tensor_slices((x, y)).map(lambda a, b: (a, b)))  # moves each element
    assert fast.cardinality() == slow.cardinality() == 7
    for _ in range(2):  # two epochs: both reshuffle alike
        pairs = list(zip(fast, slow))
        assert len(pairs) == 7
        for (fx, fy), (sx, sy) in pairs:
            np.testing.assert_array_equal(fx, sx)
            np.testing.assert_array_equal(fy, sy)


def test_cache_after_shuffle_freezes_the_first_order():
    ds = Dataset.from_tensor_slices(np.arange(20)).shuffle(20, seed=0).cache()
    first = ints(ds)
    assert ints(ds) == first and sorted(first) == list(range(20)) and first != list(range(20))


def test_elements_cannot_write_into_the_callers_arrays():
    x = np.zeros((3, 2))

    def in_place(row):
        row += 1
        return row
    with pytest.raises(ValueError, match="read-only"):
        list(Dataset.from_tensor_slices(x).map(in_place))
    assert not x.any() and x.flags.writeable
    batch = next(iter(Dataset.from_tensor_slices(x).batch(2)))
    batch += 1  # batches are the pipeline's own copies
    assert not x.any()
