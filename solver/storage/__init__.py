"""Writing results: every file lands atomically, so a crash or Ctrl-C never leaves half a result behind."""
