"""The refiner with int8 weights: its speed and its figures against the float refiner's.

    python benchmarks/quantise_refiner.py data/tune_cm.vfstore data/tune_p.vfstore [--calibration-events 40]

Records the refiner's inputs on the first events of the calibration store (``primary`` mode),
quantises the bundled ``refiner.onnx`` with onnxruntime's static quantisation (QDQ, int8 weights
per channel, uint8 activations, calibrated on up to 2,048 of those points), times both on one core
(320 points per call), prints the largest and median differences of their outputs, and runs the
finder in ``primary`` mode over the tuning store with each: the primary figures, ms per event, and
how often the two give the same primary vertex (within 0.01 cm). Not used by the finder:
``docs/experiments.md`` says why.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("calibration", help="event store whose refiner points calibrate the int8 refiner")
    parser.add_argument("tuning", help="event store the two refiners' figures are measured on")
    parser.add_argument("--calibration-events", type=int, default=40)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from vertexfinder.evaluation import agreement, evaluate
    from vertexfinder.finder import VertexFinder, default_model_path
    from vertexfinder.io.events import read_events
    from vertexfinder.model.onnx import OnnxNetwork

    finder = VertexFinder.load(backend="onnxruntime", threads=1)
    points = []
    refine = finder.refine_fn

    def recording(glimpses, features):
        points.append((np.array(glimpses), np.array(features)))
        return refine(glimpses, features)

    finder.refine_fn = recording
    events = [e for e, _ in zip(read_events(args.calibration), range(args.calibration_events))]
    finder.find_many([e for e in events if any(p.pixels.any() for p in e.planes)], mode="primary")
    finder.refine_fn = refine
    g = np.concatenate([p[0] for p in points])
    x = np.concatenate([p[1] for p in points])
    print(f"{len(g)} refiner points from {len(events)} calibration events")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"glimpses": g[i : i + 64], "features": x[i : i + 64]}
                                 for i in range(0, min(len(g), 2048), 64)])

        def get_next(self):
            return next(self.batches, None)

    source = default_model_path() / "refiner.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        pre, quantised = Path(tmp) / "pre.onnx", Path(tmp) / "refiner_int8.onnx"
        quant_pre_process(str(source), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(quantised), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        sessions = {name: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                    for name, path in (("float32", source), ("int8", quantised))}
        batch = {"glimpses": g[-320:], "features": x[-320:]}
        outputs = {}
        print(f"\n{'refiner':<10}{'us per point':>14}")
        for name, session in sessions.items():
            session.run(None, batch)
            t0 = time.perf_counter()
            for _ in range(5):
                session.run(None, batch)
            print(f"{name:<10}{1e6 * (time.perf_counter() - t0) / 5 / len(batch['glimpses']):>14.0f}")
            outputs[name] = dict(zip([o.name for o in session.get_outputs()], session.run(None, batch)))
        for key in outputs["float32"]:
            d = np.abs(outputs["float32"][key] - outputs["int8"][key])
            print(f"{key}: largest difference {d.max():.3g}, median {np.median(d):.3g}")

        int8 = VertexFinder.load(backend="onnxruntime", threads=1)
        net = OnnxNetwork(quantised, "refiner", {"attributes": {"num_features": finder.refiner.num_features}},
                          threads=1)
        int8.refine_fn = net.function()
        tuning = list(read_events(args.tuning))
        found = {}
        print(f"\n{'refiner':<10}{'1 cm':>8}{'2 cm':>8}{'5 cm':>8}{'wrong':>8}{'ms/event':>10}")
        for name, f in (("float32", finder), ("int8", int8)):
            found[name] = []
            m = evaluate(f, tuning, progress=False, mode="primary", positions=found[name])
            print(f"{name:<10}" + "".join(f"{m[k]:>8.3f}" for k in ("primary_within_1cm_3d", "primary_within_2cm_3d",
                                                                   "primary_within_5cm_3d", "primary_wrong_vertex_rate"))
                  + f"{m['ms_per_event']:>10.1f}")
        a = agreement(found["float32"], found["int8"])
        print(f"\nthe same primary within 0.01 cm: {a['same_primary']:.1%} of {a['events']} events")


if __name__ == "__main__":
    main()
