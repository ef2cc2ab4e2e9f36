"""The machinery that trains a model from a run's settings: flags and configs, the training run
(``train_and_evaluate``), tf.distribute strategies, callbacks, the run's files and TensorBoard,
rebuilding a run from its workdir, and the keras-tuner search."""
