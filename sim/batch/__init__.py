"""Monte Carlo batches: seeds, chunks, executors and streaming aggregation."""

from sim.batch.aggregate import Aggregate, summarise
from sim.batch.executors import (
    Executor,
    ProcessExecutor,
    SerialExecutor,
    default_workers,
    make_executor,
)
from sim.batch.intervals import newcombe_diff, paired_diff, wilson
from sim.batch.runner import BatchResult, default_chunk_size, default_out, run_batch

__all__ = [
    "Aggregate",
    "BatchResult",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "default_chunk_size",
    "default_out",
    "default_workers",
    "make_executor",
    "newcombe_diff",
    "paired_diff",
    "run_batch",
    "summarise",
    "wilson",
]
