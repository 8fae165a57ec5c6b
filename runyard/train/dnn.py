"""``azureml.train.dnn`` names: framework estimators and distributed-training helpers."""

from runyard.train.distributed import Gloo, Mpi, Nccl, ParameterServer
from runyard.train.estimator import PyTorch, TensorFlow

__all__ = ["Gloo", "Mpi", "Nccl", "ParameterServer", "PyTorch", "TensorFlow"]
