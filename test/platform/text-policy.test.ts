// The text policy on its own: each class of refused character, what stays allowed, NFC, trimming and lengths.
import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { TEXT_FIELDS, type TextField, TextPolicyError, checkText, clip, optionalText, requiredText } from '../../platform/text-policy.ts';

const line = TEXT_FIELDS.claimTitle;
const multi = TEXT_FIELDS.itemDescription;
const refusal = (value: string, spec: TextField = line, field = 'title'): string => {
  try {
    checkText(value, field, spec);
  } catch (err) {
    expect(err).toBeInstanceOf(TextPolicyError);
    expect((err as TextPolicyError).field).toBe(field);
    return (err as Error).message;
  }
  throw new Error(`${JSON.stringify(value)} was accepted`);
};

describe('text policy: refused characters', () => {
  it('names the control character and its 1-based position in code points', () => {
    expect(refusal('Taxi\tShanghai')).toBe('title contains the control character U+0009 at position 5');
    expect(refusal('a\nb')).toBe('title contains the control character U+000A at position 2');
    expect(refusal('a\u0000b', multi, 'items[0].description')).toBe('items[0].description contains the control character U+0000 at position 2');
    expect(refusal('a\u007Fb')).toContain('U+007F at position 2');
    expect(refusal('a\u0085b', multi)).toContain('control character U+0085');
    expect(refusal('a\rb', multi)).toContain('control character U+000D at position 2');
    // Positions count code points, so an emoji before the problem counts once.
    expect(refusal('😀\u0001')).toBe('title contains the control character U+0001 at position 2');
  });

  it('refuses unpaired surrogates, bidi embeddings, overrides and isolates', () => {
    expect(refusal('ab\uD800c')).toBe('title contains an unpaired surrogate U+D800 at position 3');
    expect(refusal('ab\uDC00')).toBe('title contains an unpaired surrogate U+DC00 at position 3');
    for (const cp of [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069]) {
      const c = String.fromCodePoint(cp);
      expect(refusal(`invoice${c}fdp.exe`, multi)).toBe(`title contains the bidirectional control U+${cp.toString(16).toUpperCase()} at position 8`);
    }
  });

  it('refuses line separators, the BOM, deprecated format and annotation characters, U+FFFD, noncharacters and stray tags', () => {
    expect(refusal('a\u2028b', multi)).toBe('title contains the line or paragraph separator U+2028 (use a line feed) at position 2');
    expect(refusal('a\u2029b')).toContain('U+2029 at position 2');
    expect(refusal('a\uFEFFb')).toBe('title contains the byte order mark U+FEFF at position 2');
    expect(refusal('a\u206Ab')).toContain('deprecated format character U+206A');
    expect(refusal('a\uFFF9b')).toContain('interlinear annotation character U+FFF9');
    expect(refusal('caf\uFFFD')).toBe('title contains the replacement character U+FFFD, the mark of an earlier decoding error at position 4');
    expect(refusal('a\uFDD0')).toContain('noncharacter U+FDD0');
    expect(refusal('a\uFFFF')).toContain('noncharacter U+FFFF');
    expect(refusal('a\u{1FFFE}')).toContain('noncharacter U+1FFFE');
    expect(refusal('ok\u{E0001}en')).toContain('U+E0001 at position 3');
    // Invisible "ASCII smuggling": tag characters spelling text outside an emoji flag.
    expect(refusal('ok\u{E0069}\u{E0067}')).toBe('title contains the tag character U+E0069 outside an emoji tag sequence at position 3');
    expect(refusal('\u{1F3F4}\u{E0067}\u{E0062}')).toContain('outside an emoji tag sequence at position 2');
  });

  it('wraps a refusal as BAD_USER_INPUT with the field', () => {
    let caught: unknown;
    try {
      requiredText('Taxi\tShanghai', 'title', line);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GraphQLError);
    expect((caught as GraphQLError).message).toBe('title contains the control character U+0009 at position 5');
    expect((caught as GraphQLError).extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'title' });
    expect(() => requiredText(42, 'title', line)).toThrow('title must be text');
  });
});

describe('text policy: what is allowed and stored', () => {
  it('keeps line feeds and tabs in multi-line text only, and stores CRLF as LF', () => {
    expect(checkText('Line 1\n\tLine 2\r\nLine 3', 'comment', TEXT_FIELDS.approvalComment)).toBe('Line 1\n\tLine 2\nLine 3');
    expect(refusal('Line 1\nLine 2', line)).toContain('U+000A');
  });

  it('stores NFC', () => {
    expect(checkText('Caf\u0065\u0301', 'title', line)).toBe('Café');
    expect(checkText('Caf\u0065\u0301', 'title', line)).toHaveLength(4);
    expect(checkText('\u1100\u1161', 'title', line)).toBe('\uAC00'); // Hangul jamo → syllable 가
  });

  it('accepts emoji sequences, CJK punctuation, full-width digits and right-to-left letters', () => {
    const samples = [
      '👩‍💻 出差报销', // ZWJ sequence
      '👨‍👩‍👧‍👦 家庭旅行',
      '👍🏽 ok', // skin-tone modifier
      '❤️ 谢谢', // variation selector
      '🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} Edinburgh', // flag of Scotland (tag sequence)
      '差旅费：上海—北京，「高铁」《发票》…',
      '１２３４ 号房间，　全角空格',
      'رحلة عمل إلى دبي',
      'נסיעת עסקים לתל אביב 2026',
      'شركت\u200Cها', // ZWNJ in Persian
      'עברית \u200F(RTL mark) \u200E and \u061C',
      'soft\u00ADhyphen, word\u2060joiner',
    ];
    for (const s of samples) expect(checkText(s, 'title', line)).toBe(s.normalize('NFC'));
  });

  it('trims, then counts length in code points after NFC', () => {
    expect(checkText('  Taxi  ', 'title', line)).toBe('Taxi');
    expect(checkText('😀'.repeat(200), 'title', line)).toBe('😀'.repeat(200)); // 400 UTF-16 units, 200 characters
    expect(refusal('😀'.repeat(201))).toBe('title must be 1 to 200 characters (it has 201)');
    expect(checkText('e\u0301'.repeat(200), 'title', line)).toBe('é'.repeat(200)); // 400 before NFC, 200 after
    expect(refusal('   ')).toBe('title must be 1 to 200 characters');
    expect(checkText('x'.repeat(5000), 'opinion', TEXT_FIELDS.appraisalOpinion)).toHaveLength(5000);
  });

  it('treats absent or blank optional text as null', () => {
    expect(optionalText(undefined, 'comment', TEXT_FIELDS.approvalComment)).toBeNull();
    expect(optionalText(null, 'comment', TEXT_FIELDS.approvalComment)).toBeNull();
    expect(optionalText('  ', 'comment', TEXT_FIELDS.approvalComment)).toBeNull();
    expect(optionalText(' fine ', 'comment', TEXT_FIELDS.approvalComment)).toBe('fine');
    expect(() => optionalText('x'.repeat(1001), 'comment', TEXT_FIELDS.approvalComment)).toThrow('comment must be 0 to 1000 characters (it has 1001)');
  });

  it('clips by code points, never splitting a surrogate pair', () => {
    expect(clip(`${'a'.repeat(199)}😀😀`, 200)).toBe(`${'a'.repeat(199)}😀`);
    expect(clip('short', 200)).toBe('short');
  });
});
