"""Short-horizon demand forecasting: pure numerics shared by the scaler and the simulator.

Nothing here imports from ``scaler`` or ``simulations``; models are looked up by
name in :data:`predictors.registry.PREDICTORS`.
"""

from predictors.base import Predictor
from predictors.forecast import Forecast
from predictors.registry import PREDICTORS, create_predictor, predictor_names
from predictors.resample import resample

__all__ = ["PREDICTORS", "Forecast", "Predictor", "create_predictor", "predictor_names", "resample"]
