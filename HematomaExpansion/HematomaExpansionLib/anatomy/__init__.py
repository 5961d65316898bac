"""Brain and ventricle masks derived from the CT, shared by inference and simulation."""
