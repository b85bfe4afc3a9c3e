"""Channels and external systems (SMS, e-mail, WeChat, core banking).

Integrations register service-task handlers with the engine through
``Settings.core.handler_modules`` (``CAREFLOW_HANDLER_MODULES=integrations.x:register``);
the engine never imports this package.
"""
