"""The study's statistics, each test in one place and on library code (statsmodels, scipy).

- ``pvalue``: a p-value, or why the data cannot give one; Holm's correction.
- ``seeds``: over training seeds (one number per run): t interval, paired t-test, sign-flip test,
  the difference a study of that many seeds can detect.
- ``images``: over the shared test images (one value per image and run): bootstrap intervals,
  the two-level bootstrap over seeds and images, McNemar's test as the report's dict.
- ``mcnemar``: McNemar's test labelled with what was computed (exact binomial or chi-square).
- ``detectable``: the detectable difference of the paired t-test with its chi-square interval.
- ``equivalence``: two one-sided t-tests (TOST) within a margin fixed up front, Holm over comparisons.
- ``difference_intervals``: a paired difference's interval on these test images (t over seeds)
  and over new test images (crossed random effects, image noise counted once).
- ``sign_flip_reach``: whether the sign-flip test on S seeds can reach alpha after Holm at all.
- ``regimes``: the interaction between training regimes (Welch t on per-seed differences).
- ``randomisation``: the heatmap randomisation check against seed-to-seed agreement (Wilcoxon).

On degenerate data (one seed, no spread, identical models, every image right or wrong) a test
gives no number it cannot back: its p-value is None with the reason, and an interval is nan
(``seeds``, ``images``) or None with a ``reason`` (the result dataclasses of the other modules).
"""
