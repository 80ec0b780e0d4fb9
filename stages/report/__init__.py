"""Report stage: metrics and plots -> reports/report.md, and diffs against another revision."""
