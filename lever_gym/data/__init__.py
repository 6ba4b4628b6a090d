"""Stage 4, data: behaviour episodes, their Minari storage, and the d3rlpy conversion; episodes
over randomised worlds (``worlds``) and any observation mode of stored data (``modes``)."""

MAIN_FILE = "main_data.hdf5"
METADATA_FILE = "metadata.json"
NAMESPACE_FILE = "namespace_metadata.json"
"""The file names Minari reads: a dataset's ``data/`` folder holds the first two, a
namespace folder the third (here so that reading them needs no h5py or minari import)."""
