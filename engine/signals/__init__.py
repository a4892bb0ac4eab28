"""Trading signals: strategies vectorised over bars and parameters, the backtester, FIX order routing."""
