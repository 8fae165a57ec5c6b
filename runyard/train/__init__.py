"""The deprecated Estimator bridge (``azureml.train``): see ``runyard.train.estimator``."""

from runyard.train.distributed import Gloo, Mpi, Nccl, ParameterServer
from runyard.train.estimator import Estimator, EstimatorDeprecationWarning, PyTorch, TensorFlow

__all__ = [
    "Estimator",
    "EstimatorDeprecationWarning",
    "Gloo",
    "Mpi",
    "Nccl",
    "ParameterServer",
    "PyTorch",
    "TensorFlow",
]
