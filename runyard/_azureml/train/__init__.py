"""``azureml.train``: the deprecated Estimator bridge and HyperDrive sweeps (``azureml.train.hyperdrive``)."""
