"""Reading and writing results folders."""

from sim.results.digest import table_digest
from sim.results.files import clean_json, dump_json, write_atomic
from sim.results.folder import Results, ResultsWriter, chunk_name, load_results

__all__ = [
    "Results",
    "ResultsWriter",
    "chunk_name",
    "clean_json",
    "dump_json",
    "load_results",
    "table_digest",
    "write_atomic",
]
