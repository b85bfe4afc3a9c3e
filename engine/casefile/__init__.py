"""The case file of a task: what the person needs to decide, gathered by named context providers.

A process designer lists the providers a user task shows in its BPMN extension property
``context`` (``complaint_case,earlier_decisions``) or in its form's ``"careflow": {"context": [...]}``; the
engine runs each one for the viewer (:mod:`engine.casefile.registry`). A provider checks the viewer's own
permission and masks what the customer-data rules mask; a section the viewer may not see comes back
*withheld*, never with its data. The service that reads a case file (``engine.services.case_file``) audits the
view of personal data with its purpose, ``task:<id>``.
"""
