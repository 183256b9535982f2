// The bundle's entry (esbuild): the stylesheet, and the one explicit start of the widget.
// Everything else is imported without side effects, so tests can import modules freely.

import './ui/styles.css';
import { initWidget } from './initWidget.ts';

initWidget();
