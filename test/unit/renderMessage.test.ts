import { commandOf } from '../../shared/bot/activityHandler';
import { renderMessage } from '../../shared/messages/renderMessage';

interface CardElement {
  type: string;
  text?: string;
  facts?: { title: string; value: string }[];
  title?: string;
  url?: string;
  data?: unknown;
}
interface Card {
  type: string;
  version: string;
  body: CardElement[];
  actions: CardElement[];
}

const card = (body: unknown[]) => ({ type: 'AdaptiveCard' as const, version: '1.5', body });

describe('renderMessage: the notification template', () => {
  it('renders an Adaptive Card with every part the Teams guidance asks for', () => {
    const out = renderMessage(
      {
        template: 'notification',
        data: {
          title: 'Deployment of api finished',
          whatHappened: 'Release 1.4.2 was deployed to production.',
          result: 'Succeeded',
          triggeredBy: 'Alex Wilber',
          actions: [
            { title: 'Open release', url: 'https://ci.example/releases/142' },
            { title: 'View logs', url: 'https://ci.example/logs/142' },
          ],
        },
      },
      'Release Bot',
    );
    expect(out.text).toBeUndefined();
    expect(out.summary).toBe('Deployment of api finished');
    const rendered = out.card as unknown as Card;
    expect(rendered.type).toBe('AdaptiveCard');
    expect(rendered.version).toBe('1.5');
    const texts = rendered.body.filter((e) => e.type === 'TextBlock').map((e) => e.text);
    expect(texts[0]).toBe('Deployment of api finished');
    expect(texts[1]).toBe('Release 1.4.2 was deployed to production.');
    expect(texts.some((t) => t?.includes('Release Bot') === true && /stop/i.test(t))).toBe(true);

    const factSets = rendered.body.filter((e) => e.type === 'FactSet');
    expect(factSets).toHaveLength(1);
    expect(factSets[0]?.facts).toEqual([
      { title: 'Result', value: 'Succeeded' },
      { title: 'Triggered by', value: 'Alex Wilber' },
    ]);

    expect(rendered.actions.filter((a) => a.type === 'Action.OpenUrl').map((a) => ({ title: a.title, url: a.url }))).toEqual([
      { title: 'Open release', url: 'https://ci.example/releases/142' },
      { title: 'View logs', url: 'https://ci.example/logs/142' },
    ]);
    const submit = rendered.actions.filter((a) => a.type === 'Action.Submit');
    expect(submit).toHaveLength(1);
    expect(submit[0]?.data).toEqual({ teamsNotify: 'optOut' });
    // What the button submits is what the bot reads as "stop".
    expect(commandOf({ value: submit[0]?.data })).toBe('stop');
    // Nothing of the template syntax is left over.
    expect(JSON.stringify(rendered)).not.toMatch(/\$\{|\$when|\$data/);
  });

  it('leaves out the FactSet when there is no result or trigger, and keeps only the facts given', () => {
    const bare = renderMessage({ template: 'notification', data: { title: 'T', whatHappened: 'W' } }, 'App').card as unknown as Card;
    expect(bare.body.filter((e) => e.type === 'FactSet')).toEqual([]);
    expect(bare.actions.map((a) => a.type)).toEqual(['Action.Submit']);

    const one = renderMessage({ template: 'notification', data: { title: 'T', whatHappened: 'W', triggeredBy: 'cron' } }, 'App').card as unknown as Card;
    expect(one.body.find((e) => e.type === 'FactSet')?.facts).toEqual([{ title: 'Triggered by', value: 'cron' }]);
  });

  it('does not evaluate template expressions found in the caller’s data', () => {
    const rendered = renderMessage(
      { template: 'notification', data: { title: 'Hi ${appName}', whatHappened: "${if(true,'x','y')}", triggeredBy: '${result}' } },
      'Secret App',
    ).card as unknown as Card;
    const texts = rendered.body.map((e) => e.text);
    expect(texts).toContain('Hi ${appName}');
    expect(texts).toContain("${if(true,'x','y')}");
    expect(rendered.body.find((e) => e.type === 'FactSet')?.facts).toEqual([{ title: 'Triggered by', value: '${result}' }]);
  });

  it('keeps the title as the summary unless one is given', () => {
    expect(renderMessage({ template: 'notification', data: { title: 'T', whatHappened: 'W' } }, 'App').summary).toBe('T');
    expect(renderMessage({ template: 'notification', data: { title: 'T', whatHappened: 'W' }, summary: 'S' }, 'App').summary).toBe('S');
  });
});

describe('renderMessage: content messages and their preview', () => {
  it('passes text, card and summary through as given', () => {
    const given = card([{ type: 'TextBlock', text: '${notATemplate}' }]);
    expect(renderMessage({ text: '**bold**', card: given, summary: 'preview' }, 'App')).toEqual({ text: '**bold**', card: given, summary: 'preview' });
    expect(renderMessage({ text: 'only text' }, 'App')).toEqual({ text: 'only text' });
  });

  it('a card without summary or text previews its first TextBlock', () => {
    const given = card([{ type: 'Image', url: 'https://x.example/a.png' }, { type: 'TextBlock', text: 'Build 42 passed' }, { type: 'TextBlock', text: 'second' }]);
    expect(renderMessage({ card: given }, 'App')).toEqual({ card: given, summary: 'Build 42 passed' });
  });

  it('a card with text is previewed by Teams from the text: no summary is made up', () => {
    const given = card([{ type: 'TextBlock', text: 'from the card' }]);
    expect(renderMessage({ text: 'the text', card: given }, 'App')).toEqual({ text: 'the text', card: given });
  });

  it('a card with no text anywhere gets no summary', () => {
    const given = card([{ type: 'Image', url: 'https://x.example/a.png' }, { type: 'TextBlock', text: '  \n ' }]);
    expect(renderMessage({ card: given }, 'App')).toEqual({ card: given });
  });
});
