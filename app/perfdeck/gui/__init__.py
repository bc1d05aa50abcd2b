"""The Qt side of PerfDeck: sampler thread, main window, views, tray and dialogs."""
