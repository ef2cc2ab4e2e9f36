"""tfgvae: Graph VAE (He, Gong, Marino, Mori, Lehrmann, ICLR 2019) in TensorFlow/Keras.

The public API (docs/api.md), imported on first use so that ``import tfgvae`` stays cheap::

    import tfgvae
    model = tfgvae.GraphVAE(tfgvae.ModelConfig(input_shape=(28, 28, 1)), encoder=my_conv_net)
    model.compile(keras.optimizers.Adam(1e-3))
    model.fit(x_train, batch_size=64, epochs=10)       # anneals tau, warms up the KL weight
    model.log_likelihood(x_test, num_samples=1000)
    model.save("m.keras")                                # keras.saving.load_model("m.keras") reloads it
"""
import importlib

__version__ = "0.2.0"

_EXPORTS = {  # public name: (module, name there)
    "GraphVAE": ("tfgvae.core.model", "GraphVAE"),
    "ModelConfig": ("tfgvae.core.model_config", "ModelConfig"),
    "Schedule": ("tfgvae.core.schedules", "Schedule"),
    "STRUCTURES": ("tfgvae.core.structure", "STRUCTURES"),
    "DependencyGates": ("tfgvae.core.structure", "DependencyGates"),
    "fixed_adjacency": ("tfgvae.core.structure", "fixed_adjacency"),
    "check_adjacency": ("tfgvae.core.adjacency", "check_adjacency"),
    "mlp_encoder": ("tfgvae.core.networks", "encoder"),
    "mlp_decoder": ("tfgvae.core.networks", "decoder"),
    "TrainConfig": ("tfgvae.training.config", "TrainConfig"),
    "train_and_evaluate": ("tfgvae.training.train", "train_and_evaluate"),
    "build_model": ("tfgvae.training.runs", "build_model"),
    "load_run": ("tfgvae.training.runs", "load_run"),
    "importance_log_likelihood": ("tfgvae.experiments.evaluation", "importance_log_likelihood"),
    "importance_terms": ("tfgvae.experiments.evaluation", "importance_terms"),
    "evaluate_model": ("tfgvae.experiments.evaluation", "evaluate_model"),
    "evaluate_saved_model": ("tfgvae.experiments.evaluation", "evaluate_saved_model"),
    "evaluate_workdir": ("tfgvae.experiments.evaluation", "evaluate_workdir"),
    "export_saved_model": ("tfgvae.serving.export", "export_saved_model"),
    "structure_summary": ("tfgvae.training.artifacts", "structure_summary"),
    "write_structure_artifacts": ("tfgvae.training.artifacts", "write_structure_artifacts"),
    "DATASETS": ("tfgvae.data", "DATASETS"),
    "DatasetInfo": ("tfgvae.data", "DatasetInfo"),
    "load_split": ("tfgvae.data", "load_split"),
    "make_dataset": ("tfgvae.data", "make_dataset"),
    "data_source": ("tfgvae.data.sources", "resolve"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfgvae' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
