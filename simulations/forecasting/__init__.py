"""Backtests of forecasters, and the classical baselines they are scored against."""
