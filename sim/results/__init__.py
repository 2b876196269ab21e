"""Results folders: the one owner of their layout, manifest, lock, chunks and readers."""

from sim.results.digest import table_digest
from sim.results.files import clean_json, dump_json, write_atomic, write_new
from sim.results.folder import Results, ResultsFolder, chunk_name, load_results, write_output
from sim.results.manifest import Manifest
from sim.results.summary import Summary, SweepSummary

__all__ = [
    "Manifest",
    "Results",
    "ResultsFolder",
    "Summary",
    "SweepSummary",
    "chunk_name",
    "clean_json",
    "dump_json",
    "load_results",
    "table_digest",
    "write_atomic",
    "write_new",
    "write_output",
]
