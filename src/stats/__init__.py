"""The study's statistics, each test in one place and on library code (statsmodels, scipy).

- ``pvalue``: a p-value, or why the data cannot give one; Holm's correction.
- ``seeds``: over training seeds (one number per run): t interval, paired t-test, sign-flip test,
  the difference a study of that many seeds can detect.
- ``images``: over the shared test images (one value per image and run): bootstrap intervals,
  the two-level bootstrap over seeds and images, McNemar's test.

On degenerate data (one seed, no spread, identical models, every image right or wrong) a test
gives no number it cannot back: its p-value is None with the reason, and an interval is nan.
"""
