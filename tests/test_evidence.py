"""Citations whose evidence is checked: excerpts found in the source's document, values
among their numbers or derived from them, judgements marked as assumptions, every error
located; show, sensitivity and the report tell checked, unchecked and assumed apart."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.cli import cli
from sim.errors import ScenarioError
from sim.scenario import load_scenario
from sim.scenario.evidence import excerpt_numbers

DOC = """\
Russia’s Defense Ministry reported intercepting five of the six
missiles. The ATACMS, with a range of 190 miles (306 kilometers), reaches far.
Reports indicate that 50,000 Russian soldiers, including 12,000 North Koreans,
are in the area. A dozen depots burned.
"""

HEAD = """\
name: ev
sources:
  - {id: art, title: An article, file: article.txt}
clock: {horizon: 10}
ladder: [low, high]
outcomes: [{id: quiet, default: true}]
parameters:
"""


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "article.txt").write_text(DOC, encoding="utf-8")
    return folder


def scenario(write, params: str, head: str = HEAD) -> Path:
    return write(head + textwrap.indent(textwrap.dedent(params), "  "))


def problems(path: Path, docs: Path | None) -> list[str]:
    try:
        load_scenario(path, strict=True, sources=docs)
    except ScenarioError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_excerpt_numbers_read_digits_and_number_words():
    assert excerpt_numbers("five of the six") == [5, 6]
    assert excerpt_numbers("50,000 soldiers, including 12,000") == [50000, 12000]
    assert excerpt_numbers("a dozen depots") == [12]
    assert excerpt_numbers("Two hundred tanks") == [2, 200, 100]
    assert excerpt_numbers("2.5 million shells") == [2.5, 2_500_000, 1_000_000]
    assert excerpt_numbers("twelve percent") == [12, 100]
    assert excerpt_numbers("no figure here") == []


def test_cited_values_with_evidence_pass(write, docs):
    path = scenario(write, """\
    size: {value: 6, source: {ref: art, note: six fired, evidence: ["five of the SIX  missiles"]}}
    share: {value: 0.83, source: {ref: art, note: five of six downed,
            evidence: ["intercepting five of the six"], derivation: 5/6}}
    km: {value: 306, source: {ref: art, note: the range, evidence: "(306 kilometers)"}}
    nk: {value: 0.24, source: {ref: art, note: North Koreans in the force,
         evidence: ["50,000 Russian soldiers", "including 12,000 North Koreans"],
         derivation: 12000 / 50000}}
    depots: {value: 12, source: {ref: art, note: depots, evidence: "a dozen depots"}}
    pace: {value: 20, assumption: a judgement, informed_by: art}
    """)
    assert problems(path, docs) == []
    assert problems(path, None) == []  # --strict alone: every number cited or assumed


def test_excerpt_matching_ignores_case_spacing_and_typographic_quotes(write, docs):
    path = scenario(write, """\
    size: {value: 6, source: {ref: art, note: n,
           evidence: ["RUSSIA'S defense\\n  ministry reported intercepting five of the six"]}}
    """)
    assert problems(path, docs) == []


def test_an_excerpt_not_in_the_document_is_a_located_error(write, docs):
    path = scenario(write, """\
    size: {value: 6, source: {ref: art, note: n, evidence: ["seven of the six missiles"]}}
    """)
    (error,) = problems(path, docs)
    assert error.startswith("scenario.yaml:8:59: parameters.size.source.evidence[0]: ")
    assert "excerpt 'seven of the six missiles' is not in the document of 'art'" in error


def test_value_must_be_among_the_excerpt_numbers_or_derived(write, docs):
    path = scenario(write, """\
    size: {value: 7, source: {ref: art, note: n, evidence: ["five of the six"]}}
    share: {value: 0.9, source: {ref: art, note: n, evidence: ["five of the six"],
            derivation: 5/6}}
    other: {value: 0.5, source: {ref: art, note: n, evidence: ["five of the six"],
            derivation: 3/6}}
    """)
    errors = problems(path, docs)
    assert len(errors) == 3
    assert re.search(r"scenario\.yaml:8:58: parameters\.size\.source\.evidence: the value 7 "
                     r"is not among the excerpts' numbers \(5, 6\)", errors[0])
    assert "parameters.share.source.derivation: the derivation gives 0.833333, not the " \
           "value 0.9" in errors[1]
    assert "the derivation uses 3, which the excerpts do not hold" in errors[2]


@pytest.mark.parametrize("derivation", ["__import__('os')", "size * 2", "min(5, 6)",
                                        "5 > 6", "'5'"])
def test_a_derivation_is_arithmetic_over_numbers_only(write, docs, derivation):
    path = scenario(write, f"""\
    size: {{value: 5, source: {{ref: art, note: n, evidence: ["five of the six"],
           derivation: "{derivation}"}}}}
    """.replace('"\'5\'"', "\"'5'\""))
    (error,) = problems(path, docs)
    assert "parameters.size.source.derivation" in error
    assert "may use numbers and + - * / ** only" in error


def test_long_excerpts_are_refused_where_they_are(write, docs):
    path = scenario(write, """\
    size:
      value: 6
      source:
        ref: art
        note: n
        evidence:
          - Russia's Defense Ministry reported intercepting five of the six missiles.
            The ATACMS, with a range
    """)
    (error,) = problems(path, docs)
    assert error.startswith("scenario.yaml:14:11: parameters.size.source.evidence[0]: ")
    assert "at most 12" in error and "this one has 15" in error and "never whole sentences" in error


def test_a_missing_document_is_an_error_naming_it(write, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    path = scenario(write, """\
    size: {value: 6, source: {ref: art, note: n, evidence: ["five of the six"]}}
    """)
    (error,) = problems(path, empty)
    assert error.startswith("scenario.yaml:3:")
    assert "sources[0].file: source 'art': document 'article.txt' is not in" in error


def test_a_source_without_a_file_cannot_be_checked(write, docs):
    head = HEAD.replace(", file: article.txt", "")
    path = scenario(write, """\
    size: {value: 6, source: {ref: art, note: n, evidence: ["five of the six"]}}
    """, head)
    (error,) = problems(path, docs)
    assert "sources[0]: source 'art' names no file:" in error


def test_a_citation_without_evidence_fails_only_with_sources(write, docs):
    path = scenario(write, """\
    size: {value: 6, source: {ref: art, note: six fired}}
    """)
    assert problems(path, None) == []
    (error,) = problems(path, docs)
    assert "parameters.size.source: cites 'art' without evidence" in error


def test_a_judgement_tagged_source_is_an_error(write, docs):
    path = scenario(write, """\
    p: {value: 0.3, source: {ref: art,
        note: "Moscow promised a response; the chance is our assumption"}}
    q: {value: 0.2, source: {ref: art, note: "an estimate of ours"}}
    km: {value: 306, range: [100, 500], source: {ref: art, note: "the range is our assumption",
         evidence: "306 kilometers"}}
    """)
    errors = problems(path, docs)
    assert len(errors) == 2
    assert all("a judgement is never cited; write assumption: REASON (with informed_by: art)"
               in e for e in errors)
    assert "parameters.p.source.note" in errors[0] and "parameters.q.source.note" in errors[1]


def test_informed_by_names_a_known_source_and_goes_with_an_assumption(write):
    path = scenario(write, """\
    a: {value: 0.3, assumption: a judgement, informed_by: nope}
    b: {value: 0.3, source: {ref: art, note: n}, informed_by: art}
    """)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    text = str(exc.value)
    assert "parameters.a.informed_by: unknown source 'nope'" in text
    assert "parameters.b.informed_by: informed_by goes with assumption:" in text


def test_uncited_numbers_under_strict_are_located(write):
    path = scenario(write, "n: 5\n")
    (error,) = problems(path, None)
    assert error == "scenario.yaml:8:6: parameters.n: value 5 has neither source: nor assumption:"


def test_cli_validate_and_show_tell_checked_unchecked_and_assumed_apart(write, docs):
    path = scenario(write, """\
    size: {value: 6, source: {ref: art, note: six fired, evidence: "five of the six"}}
    pace: {value: 20, assumption: a judgement, informed_by: art}
    """)
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", "--strict", "--sources", str(docs), str(path)])
    assert ok.exit_code == 0, ok.output
    assert "evidence checked" in ok.output
    wide = {"COLUMNS": "250"}
    checked = runner.invoke(cli, ["show", "--sources", str(docs), str(path)], env=wide)
    assert "cited, evidence checked: [art] six fired" in checked.output
    assert "assumption (informed by art): a judgement" in checked.output
    plain = runner.invoke(cli, ["show", str(path)], env=wide)
    assert "cited, not checked: [art] six fired" in plain.output
    (docs / "article.txt").write_text("nothing here", encoding="utf-8")
    failed = runner.invoke(cli, ["show", "--sources", str(docs), str(path)], env=wide)
    assert "cited, evidence fails its check: [art] six fired" in failed.output
    bad = runner.invoke(cli, ["validate", "--strict", "--sources", str(docs), str(path)])
    assert bad.exit_code == 2
    assert "scenario.yaml:8:" in bad.output and "is not in the document of 'art'" in bad.output


def test_report_marks_cited_values_unchecked_and_assumptions(write):
    from sim.report import _assumptions

    doc = {"parameters": {
        "size": {"value": 6, "source": {"ref": "art", "note": "six fired",
                                        "evidence": ["five of the six"]}},
        "pace": {"value": 20, "assumption": "a judgement", "informed_by": "art"}}}
    html = _assumptions(doc, {"art": "An article"})
    assert "<strong>cited, not checked</strong>" in html
    assert "&ldquo;five of the six&rdquo;" in html
    assert "<strong>assumption</strong> (informed by [art]): a judgement" in html


def test_the_example_scenario_checks_against_the_real_articles():
    """Runs where the articles are beside the clone (as in CI); skipped elsewhere."""
    root = Path(__file__).resolve().parent.parent
    folder = root.parent / "shared" / "sources"
    if not (folder / "000_67064f67a26f993f.txt").is_file():
        pytest.skip("the source articles are not beside the clone")
    load_scenario(root / "scenarios" / "examples" / "evidence.yaml", strict=True,
                  sources=folder)
