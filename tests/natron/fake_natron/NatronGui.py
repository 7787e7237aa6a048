"""A fake of the few documented NatronGui calls that plugin/initGui.py uses (GUI start-up only).

PythonReference/NatronGui: PyGuiApplication.addMenuCommand(grouping, pythonFunctionName),
getActiveInstance(), informationDialog(title, message), warningDialog(title, message);
GuiApp.getSelectedNodes(group=None).
"""
from __future__ import annotations

import NatronEngine


class PyGuiApplication(NatronEngine.PyCoreApplication):
    def __init__(self):
        NatronEngine.PyCoreApplication.__init__(self)
        self.background = False
        self.menu = []
        self.dialogs = []
        self.app = None

    def addMenuCommand(self, grouping, pythonFunctionName):
        self.menu.append((grouping, pythonFunctionName))

    def getActiveInstance(self):
        return self.app

    def informationDialog(self, title, message):
        self.dialogs.append(("information", title, message))

    def warningDialog(self, title, message):
        self.dialogs.append(("warning", title, message))


class GuiApp(NatronEngine.App):
    def __init__(self, natron_app):
        NatronEngine.App.__init__(self, natron_app)
        self.selected = []

    def getSelectedNodes(self, group=None):
        return list(self.selected)


natron = PyGuiApplication()
