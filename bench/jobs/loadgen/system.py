"""The system under test, plugged into LoadGen: its query sample library is
every (prompt, sample) pair, its issue callback is the dispatcher's, and
each finished sample is completed with `QuerySamplesComplete`. One LoadGen
test per `run_test` call, its logs written to a folder of its own."""

from __future__ import annotations

import threading
from pathlib import Path

from .dispatcher import Dispatcher, Queued
from .pipeline import CompiledPipeline
from .responses import ResponseLayout


class SystemUnderTest:
    def __init__(self, pipeline: CompiledPipeline, total_samples: int, window_s: float, layout: ResponseLayout):
        self.pipeline, self.total_samples, self.window_s, self.layout = pipeline, total_samples, window_s, layout
        self.dispatcher: Dispatcher | None = None

    def _complete(self, batch: list[Queued], outputs) -> None:
        import mlperf_loadgen as lg

        if outputs is None:  # a failed batch: completed empty, so that LoadGen can end the test
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in batch])
            return
        host = self.pipeline.fetch(outputs, len(batch), with_images=self.layout.image_shape is not None)
        buffers = [self.layout.encode(host["tokens"][i], host["images"][i] if "images" in host else None)
                   for i in range(len(batch))]
        # LoadGen copies the bytes (accuracy log) before the call returns: `buffers` lives until then.
        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, b.ctypes.data, b.nbytes)
                                 for q, b in zip(batch, buffers)])

    def run_test(self, settings, log_dir: Path, trace: bool = False) -> Dispatcher:
        """Run one LoadGen test to its end; the dispatcher's counts (and error, if any) come back.
        `trace`: LoadGen's trace (mlperf_log_trace.json, every sample's issue and completion), which
        MLPerf's references turn on only to debug (text_to_image/main.py: `enable_trace = args.debug`):
        its logging runs beside the timed test."""
        import mlperf_loadgen as lg

        log_dir.mkdir(parents=True, exist_ok=True)
        dispatcher = Dispatcher(self.pipeline.launch, _block, self._complete, self.pipeline.global_batch,
                                self.window_s).start()
        self.dispatcher = dispatcher
        log_settings = lg.LogSettings()
        log_settings.log_output.outdir = str(log_dir)
        log_settings.log_output.copy_summary_to_stdout = False
        log_settings.enable_trace = trace  # per-sample latencies, for the latency-over-time plot
        sut = lg.ConstructSUT(dispatcher.issue, dispatcher.flush)
        # Samples are built from the prompt table on the fly: nothing to load or unload.
        qsl = lg.ConstructQSL(self.total_samples, self.total_samples, _nothing, _nothing)
        try:
            lg.StartTestWithLogSettings(sut, qsl, settings, log_settings)
        finally:
            dispatcher.stop()
            lg.DestroyQSL(qsl)
            lg.DestroySUT(sut)
        return dispatcher


def run_interruptibly(target, *args):
    """Run `target` in a thread, so that Ctrl-C reaches this (the main) thread
    while LoadGen's C++ test holds it; KeyboardInterrupt is raised here."""
    result: dict = {}

    def body():
        try:
            result["value"] = target(*args)
        except BaseException as e:  # noqa: BLE001
            result["error"] = e

    thread = threading.Thread(target=body, name="loadgen", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(timeout=0.2)
    if "error" in result:
        raise result["error"]
    return result["value"]


def _block(outputs) -> None:
    import jax

    jax.block_until_ready(outputs)


def _nothing(_indices) -> None:
    return None


