"""The severity flags on simulated cohorts (a small, seeded run of `python -m benchmarks
severity`): unbiased cohorts rarely get a flag, planted trainees are found the planted way."""

from benchmarks.severity import SCENARIOS, rates


def _scenario(instrument, planted, vignettes):
    return next(s for s in SCENARIOS if (s.instrument, s.planted, s.vignettes_per_trainee)
                == (instrument, planted, vignettes))


def test_unbiased_cohorts_rarely_get_a_flag_and_repeats_change_nothing():
    for s in (_scenario("CPORT", 0.0, 20), _scenario("STABLE-2007", 0.0, 10)):
        r = rates(s, cohorts=30, seed=1, old_rule=True)
        assert r.any_flag <= 0.10
        assert r.any_flag_with_repeats == r.any_flag
        # The rule this model replaced flags most of these cohorts.
        assert r.old_rule_any_flag >= 0.5


def test_planted_lenient_and_severe_trainees_are_found():
    for s in (_scenario("CPORT", 1.5, 30), _scenario("STABLE-2007", 2.5, 30)):
        r = rates(s, cohorts=25, seed=2)
        assert r.lenient_found >= 0.8 and r.severe_found >= 0.8
        assert r.unbiased_flagged <= 0.01
