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
from sim.batch.runner import (
    BatchResult,
    Execution,
    default_chunk_size,
    default_out,
    resume_batch,
    run_batch,
)

__all__ = [
    "Aggregate",
    "BatchResult",
    "Execution",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "default_chunk_size",
    "default_out",
    "default_workers",
    "make_executor",
    "newcombe_diff",
    "paired_diff",
    "resume_batch",
    "run_batch",
    "summarise",
    "wilson",
]
