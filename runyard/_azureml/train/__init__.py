"""``azureml.train``: the deprecated Estimator bridge (Runyard has no HyperDrive)."""
