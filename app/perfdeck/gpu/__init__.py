"""GPU sources for the ``gpu`` family, pure Python (no Qt).

``devices`` finds the display controllers on the PCI bus once (and again every minute), ``sysfs``
reads amdgpu, i915 and xe whole-card files and their hwmon, ``fdinfo`` walks ``/proc/*/fdinfo``
for the per-client ``drm-*`` keys of every DRM driver, and ``nvml`` reads NVIDIA cards through
``nvidia-ml-py`` when it and the driver library are installed. ``doctor`` describes them all.
"""
