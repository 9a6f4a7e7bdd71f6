// A basic XML well-formedness check, for content filed as XML.
import { stripBom } from './values.ts';

const XML_NAME = String.raw`[\p{L}_:][\p{L}\p{N}\p{M}_.:\u00B7-]*`;
const XML_OPEN = new RegExp(String.raw`<(${XML_NAME})(?:\s+[^\s=/>"']+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*\s*(/?)>`, 'uy');
const XML_CLOSE = new RegExp(String.raw`</(${XML_NAME})\s*>`, 'uy');

/** A basic well-formedness check: one root element, tags balanced, comments/CDATA/PIs closed. Not a validator. */
export function xmlProblem(text: string): string | null {
  const s = stripBom(text);
  if (!s.trimStart().startsWith('<')) return 'XML content does not start with <?xml or <';
  const stack: string[] = [];
  let roots = 0;
  let pos = 0;
  const outside = (from: number, to: number): string | null => (stack.length === 0 && s.slice(from, to).trim() !== '' ? `text outside the root element at offset ${from}` : null);
  for (let i = s.indexOf('<'); i !== -1; i = s.indexOf('<', pos)) {
    const stray = outside(pos, i);
    if (stray) return stray;
    const skip = (open: string, close: string, what: string): number | string => {
      const end = s.indexOf(close, i + open.length);
      return end === -1 ? `${what} at offset ${i} is not closed` : end + close.length;
    };
    let next: number | string;
    if (s.startsWith('<!--', i)) next = skip('<!--', '-->', 'comment');
    else if (s.startsWith('<![CDATA[', i)) next = stack.length === 0 ? `CDATA at offset ${i} is outside the root element` : skip('<![CDATA[', ']]>', 'CDATA section');
    else if (s.startsWith('<?', i)) next = skip('<?', '?>', 'processing instruction');
    else if (s.startsWith('<!', i)) {
      const gt = s.indexOf('>', i);
      const bracket = s.indexOf('[', i);
      next = bracket !== -1 && (gt === -1 || bracket < gt) ? skip('<!', ']>', 'DOCTYPE') : gt === -1 ? `declaration at offset ${i} is not closed` : gt + 1;
    } else {
      XML_CLOSE.lastIndex = i;
      XML_OPEN.lastIndex = i;
      const close = XML_CLOSE.exec(s);
      const open = close ? null : XML_OPEN.exec(s);
      if (close) {
        const top = stack.pop();
        if (top !== close[1]) return top === undefined ? `closing tag </${close[1]}> at offset ${i} has no opening tag` : `closing tag </${close[1]}> at offset ${i} does not close <${top}>`;
        next = XML_CLOSE.lastIndex;
      } else if (open) {
        if (stack.length === 0) {
          if (roots > 0) return `second root element <${open[1]}> at offset ${i}`;
          roots++;
        }
        if (open[2] !== '/') stack.push(open[1]);
        next = XML_OPEN.lastIndex;
      } else next = `malformed tag at offset ${i}`;
    }
    if (typeof next === 'string') return next;
    pos = next;
  }
  const trailing = outside(pos, s.length);
  if (trailing) return trailing;
  if (stack.length) return `element <${stack[stack.length - 1]}> is not closed`;
  if (roots === 0) return 'XML content has no root element';
  return null;
}
