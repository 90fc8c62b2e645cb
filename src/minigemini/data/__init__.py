"""Training data: LLaVA-format datasets, label masking, mixtures and modality-grouped sampling.

Import the submodules directly (`minigemini.data.llava`, `.labels`, `.mixture`, `.sampler`); this
package imports nothing eagerly.
"""
