"""Every worked example in irr-published.json, to its stated tolerance.

The file lives in ../shared/ beside the repository; a copy in tests/data keeps the tests
running where shared/ is absent. Both are read when present (and must agree).
"""

import json
from pathlib import Path

import pytest

from training.reliability import (
    brennan_prediger,
    conger_kappa,
    fleiss_kappa,
    gwet_ac1,
    icc_all,
    krippendorff_alpha,
    light_kappa,
)

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO / ".." / "shared" / "irr-published.json"
COPY = REPO / "tests" / "data" / "irr-published.json"
SOURCES = [COPY] + ([SHARED] if SHARED.exists() else [])


def _cases(path):
    return {case["id"]: case for case in json.loads(path.read_text())["cases"]}


@pytest.fixture(params=SOURCES, ids=lambda p: p.parent.name)
def cases(request):
    return _cases(request.param)


@pytest.mark.parametrize("shared", [p for p in [SHARED] if p.exists()], ids=["shared"])
def test_copy_matches_shared_file(shared):
    # Collected only where ../shared exists (CI and developer machines).
    assert _cases(COPY) == _cases(shared)


def test_every_case_is_checked(cases):
    assert set(cases) == {"sf1979_icc", "fleiss1971_diagnoses", "krippendorff_4x12"}


def test_shrout_fleiss_1979_icc(cases):
    case = cases["sf1979_icc"]
    expected, tol = case["expected"], case["tolerance"]
    result = icc_all(case["data"])
    for form in ("1,1", "2,1", "3,1", "1,k", "2,k", "3,k"):
        key = "icc_" + form.replace(",", "_")
        assert result[key].value == pytest.approx(expected[f"ICC({form})"], abs=tol)
    extra = result["icc_2_1"].extra
    assert extra["MSR"] == pytest.approx(expected["MSR_BMS"], abs=tol)
    assert extra["MSW"] == pytest.approx(expected["MSW_WMS"], abs=tol)
    assert extra["MSC"] == pytest.approx(expected["MSC_JMS"], abs=tol)
    assert extra["MSE"] == pytest.approx(expected["MSE_EMS"], abs=tol)
    assert result["icc_1_1"].extra["F"] == pytest.approx(expected["F_oneway(BMS/WMS)"], abs=tol)
    assert result["icc_2_1"].extra["F"] == pytest.approx(expected["F_twoway(BMS/EMS)"], abs=tol)
    # Shrout & Fleiss (1979) Table 4 prints them to two decimals.
    printed = [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]
    assert [round(e.value, 2) for e in result.values()] == printed


def test_shrout_fleiss_names_both_ways(cases):
    result = icc_all(cases["sf1979_icc"]["data"])
    assert [e.name for e in result.values()] == [
        "ICC(1,1)", "ICC(2,1) = ICC(A,1)", "ICC(3,1) = ICC(C,1)",
        "ICC(1,k)", "ICC(2,k) = ICC(A,k)", "ICC(3,k) = ICC(C,k)",
    ]


def test_fleiss_1971_diagnoses(cases):
    case = cases["fleiss1971_diagnoses"]
    expected, tol, data = case["expected"], case["tolerance"], case["data"]
    result = fleiss_kappa(data)
    assert result.value == pytest.approx(expected["fleiss_kappa"], abs=tol)
    assert result.extra["p_a"] == pytest.approx(expected["P_bar_observed"], abs=tol)
    assert result.extra["p_e"] == pytest.approx(expected["P_e"], abs=tol)
    assert result.extra["z_h0"] == pytest.approx(expected["z (R irr, H0 kappa=0)"], abs=tol)
    assert result.extra["se"] == pytest.approx(
        expected["fleiss_kappa_se (irrCAC, Gwet 2008 variance)"], abs=tol)
    diagnoses = {1: "Depression", 2: "Personality Disorder", 3: "Schizophrenia",
                 4: "Neurosis", 5: "Other"}
    for code, label in diagnoses.items():
        per = result.per_category[float(code)]
        assert per.value == pytest.approx(expected[f"kappa_j_{label}"], abs=tol)
        assert per.extra["p_j"] == pytest.approx(expected[f"p_j_{label}"], abs=tol)
    assert conger_kappa(data).value == pytest.approx(
        expected["conger_exact_kappa (irr exact=TRUE / irrCAC conger)"], abs=tol)
    # Randolph's free-marginal kappa is Brennan-Prediger with q = 5.
    assert brennan_prediger(data, categories=[1, 2, 3, 4, 5]).value == pytest.approx(
        expected["randolph_free_marginal_kappa (statsmodels method=randolph)"], abs=tol)
    assert light_kappa(data).value == pytest.approx(
        expected["light_kappa (R irr kappam.light)"], abs=tol)
    assert gwet_ac1(data).value == pytest.approx(expected["gwet_ac1 (irrCAC)"], abs=tol)
    assert krippendorff_alpha(data, "nominal").value == pytest.approx(
        expected["krippendorff_alpha_nominal"], abs=tol)
    # Fleiss (1971) prints kappa = .430 and the per-category kappas to three decimals.
    assert round(result.value, 3) == 0.430
    assert [round(result.per_category[float(c)].value, 3) for c in diagnoses] == [
        0.245, 0.245, 0.520, 0.471, 0.566]


def test_krippendorff_4x12_all_levels(cases):
    case = cases["krippendorff_4x12"]
    for level, value in case["expected"].items():
        result = krippendorff_alpha(case["data"], level)
        assert result.value == pytest.approx(value, abs=case["tolerance"])
        assert result.n_pairable == 40  # Krippendorff (2011): n = 40 pairable values
        assert result.n_units == 11  # unit 12 has a single value and is not pairable
