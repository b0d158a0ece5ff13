"""Offline side of gpuscale: fleet emulation, trace replay, baselines, oracle and tuning."""
