"""``azureml.train.dnn``."""

from runyard.train.dnn import Gloo, Mpi, Nccl, ParameterServer, PyTorch, TensorFlow

__all__ = ["Gloo", "Mpi", "Nccl", "ParameterServer", "PyTorch", "TensorFlow"]
