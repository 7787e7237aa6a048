# Faceplate GUI start-up (Natron with a GUI only): the "Faceplate" menu.
# Never lets an exception escape into Natron's start-up.
try:
    import faceplate_gui

    import __main__

    __main__.faceplate_gui = faceplate_gui  # menu commands are resolved from Natron's main namespace
    faceplate_gui.install_menu()
except Exception as _faceplate_exc:  # noqa: BLE001
    try:
        import sys as _faceplate_sys

        _faceplate_sys.stderr.write("Faceplate: menu not installed: %s\n" % (_faceplate_exc,))
    except Exception:  # noqa: BLE001
        pass
