# -*- coding: utf-8 -*-
"""Hand-written part of the FaceplateMask PyPlug: its callbacks (exact Natron signatures).

Each one hands over to faceplate_node, which turns any error into the node's status text.
"""
from __future__ import annotations

import faceplate_node


def createInstanceExt(app, group):
    faceplate_node.set_status(group, "connect a plate, set Model; frames render live (Source) or via 'Render passes'")


def onParamChanged(thisParam, thisNode, thisGroup, app, userEdited):
    faceplate_node.on_param_changed(thisParam, thisNode, thisGroup, app, userEdited)


def onInputChanged(inputIndex, thisNode, thisGroup, app):
    faceplate_node.on_input_changed(inputIndex, thisNode, thisGroup, app)


def afterNodeCreated(thisNode, app, userEdited):
    faceplate_node.after_node_created(thisNode, app, userEdited)
