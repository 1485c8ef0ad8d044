"""RMRR workbench: scenarios, DMAR tables, QEMU command lines, VM runs.

One module per job, as in tools/testing/kunit:
  scenario.py  read and check a scenario file (the data)
  dmar.py      encode a scenario's IOMMU and RMRRs as an ACPI DMAR table
  qemu.py      turn a scenario into a QEMU command line and kernel arguments
  initramfs.py pack busybox, tests and the DMAR override into an initrd
  vm.py        boot, run, save the console, judge the console
  tap.py       parse TAP/KTAP from tests and KUnit into counts
"""
