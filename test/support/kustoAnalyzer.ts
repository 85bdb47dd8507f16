/**
 * Kusto's own parser and semantic analyzer (Kusto.Language, the library behind Azure Data
 * Explorer's and Log Analytics' editors, compiled to JavaScript in @kusto/language-service-next),
 * offline, against a declared schema of the Application Insights tables the README's queries read.
 * An unknown table, column or function, or a syntax error, is an error diagnostic, as in the portal.
 */
import '@kusto/language-service-next/bridge.min.js';
import '@kusto/language-service-next/Kusto.Language.Bridge.min.js';

/** The few members of the Bridge.NET-compiled API this module uses (the package's own .d.ts is 20 MB of globals). */
interface BridgeList<T> {
  readonly Count: number;
  getItem(index: number): T;
}
interface KustoDiagnostic {
  readonly Severity: string;
  readonly Code: string;
  readonly Message: string;
  readonly Start: number;
}
interface KustoSymbol {
  readonly Name: string;
}
interface KustoGlobalState {
  WithDatabase(database: KustoSymbol): KustoGlobalState;
}
interface KustoLanguage {
  readonly KustoCode: {
    ParseAndAnalyze(text: string, globals: KustoGlobalState): { GetDiagnostics(): BridgeList<KustoDiagnostic> };
  };
  readonly GlobalState: { readonly Default: KustoGlobalState };
  readonly Symbols: {
    readonly TableSymbol: { readonly $ctor7: new (name: string, schema: string, description: string | null) => KustoSymbol };
    readonly DatabaseSymbol: { readonly ctor: new (name: string, members: KustoSymbol[]) => KustoSymbol };
  };
}

const kusto = (globalThis as unknown as { Kusto?: { Language?: KustoLanguage } }).Kusto?.Language;
if (kusto === undefined) throw new Error('@kusto/language-service-next did not define Kusto.Language');
const language: KustoLanguage = kusto;

/** Columns every Application Insights table has (the resource's Logs, not the workspace's App* tables). */
const COMMON =
  'timestamp:datetime, itemType:string, itemId:string, itemCount:int, operation_Name:string, operation_Id:string, ' +
  'operation_ParentId:string, operation_SyntheticSource:string, session_Id:string, user_Id:string, ' +
  'user_AuthenticatedId:string, user_AccountId:string, application_Version:string, client_Type:string, ' +
  'client_Model:string, client_OS:string, client_IP:string, client_City:string, client_StateOrProvince:string, ' +
  'client_CountryOrRegion:string, client_Browser:string, cloud_RoleName:string, cloud_RoleInstance:string, ' +
  'appId:string, appName:string, iKey:string, sdkVersion:string, customDimensions:dynamic';

/**
 * The tables as Application Insights' Logs shows them (and the workspace's AppMetrics). Each exported OpenTelemetry data point is one
 * customMetrics row (value, count, min, max); SERVER and CONSUMER spans are requests, INTERNAL,
 * CLIENT and PRODUCER spans are dependencies; log records are traces.
 */
export const APPLICATION_INSIGHTS_TABLES: Readonly<Record<string, string>> = {
  customMetrics: `(${COMMON}, name:string, value:real, valueCount:int, valueSum:real, valueMin:real, valueMax:real, valueStdDev:real)`,
  traces: `(${COMMON}, customMeasurements:dynamic, message:string, severityLevel:int)`,
  requests: `(${COMMON}, customMeasurements:dynamic, id:string, source:string, name:string, url:string, resultCode:string, duration:real, performanceBucket:string)`,
  dependencies: `(${COMMON}, customMeasurements:dynamic, id:string, target:string, type:string, name:string, data:string, resultCode:string, duration:real, performanceBucket:string)`,
  /** The workspace's table for the same metric rows, with its own column names. */
  AppMetrics:
    '(TimeGenerated:datetime, Name:string, Sum:real, ItemCount:int, Min:real, Max:real, Properties:dynamic, ' +
    'AppRoleName:string, AppRoleInstance:string, OperationId:string, ParentId:string, SDKVersion:string)',
};

const globals = language.GlobalState.Default.WithDatabase(
  new language.Symbols.DatabaseSymbol.ctor(
    'applicationInsights',
    Object.entries(APPLICATION_INSIGHTS_TABLES).map(([name, schema]) => new language.Symbols.TableSymbol.$ctor7(name, schema, null)),
  ),
);

export interface KqlDiagnostic {
  readonly severity: string;
  readonly code: string;
  readonly message: string;
  /** Offset in the query text. */
  readonly at: number;
}

/** Every diagnostic Kusto reports for the query against the Application Insights tables. */
export function analyzeKql(query: string): readonly KqlDiagnostic[] {
  const diagnostics = language.KustoCode.ParseAndAnalyze(query, globals).GetDiagnostics();
  const found: KqlDiagnostic[] = [];
  for (let i = 0; i < diagnostics.Count; i += 1) {
    const d = diagnostics.getItem(i);
    found.push({ severity: String(d.Severity), code: d.Code, message: d.Message, at: d.Start });
  }
  return found;
}

/** The errors alone: what would make the portal refuse to run the query. */
export function kqlErrors(query: string): readonly KqlDiagnostic[] {
  return analyzeKql(query).filter((d) => d.severity === 'Error');
}
