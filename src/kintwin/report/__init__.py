"""Reports for users: figures, one self-contained HTML report per trial, a summary across trials.

``report.html.write_report`` and ``report.summary.write_summary``; importing this package does
not import matplotlib.
"""
